package migrate_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferrydvm/ferry/internal/treegen"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// TestOtherPaths migrates through an Ingress and through a NodePort, stops in preflight
// behind an intercepting proxy, and survives a sender pod killed mid-transfer. The
// subtests share one environment and run in order.
func TestOtherPaths(t *testing.T) {
	e := env.Start(t)
	kc := e.Kubeconfig(t)

	for _, tc := range []struct{ ns, endpoint string }{
		{"via-ingress", "ingress"},
		{"via-nodeport", "nodeport"},
		{"via-lb", "loadbalancer"},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			dir := e.Source.Claim(t, tc.ns, "data")
			if _, err := treegen.Generate(t.Context(), dir, treegen.Spec{Fidelity: true, SmallFiles: 500, Seed: 4}); err != nil {
				t.Fatal(err)
			}
			sum, _, err := migrate(t, e, kc, "-n", tc.ns, "--pvc", "data", "--proxy", e.ProxyURL, "--endpoint", tc.endpoint,
				"--ingress-domain", env.Subdomain, "--create-namespaces", "--create-target-pvcs")
			if err != nil || !sum.Verified {
				t.Fatalf("%v, summary %+v", err, sum)
			}
			same(t, tc.ns, dir, e.Target.VolumePath(t, tc.ns, "data"))
			nothingLeft(t, e, tc.ns)
		})
	}

	t.Run("interception-stops-preflight", func(t *testing.T) {
		ns := "intercepted"
		e.Source.Claim(t, ns, "data")
		sum, _, err := migrate(t, e, kc, "-n", ns, "--all-pvcs", "--proxy", e.MitmURL, "--create-namespaces", "--create-target-pvcs")
		if err == nil {
			t.Fatalf("a migration through mitmproxy succeeded: %+v", sum)
		}
		for _, want := range []string{"probe the data path", "intercept", "mitmproxy"} {
			if !strings.Contains(sum.Error, want) {
				t.Errorf("the error does not say %q:\n%s", want, sum.Error)
			}
		}
		if len(sum.Volumes) != 0 {
			t.Errorf("volumes were copied: %+v", sum.Volumes)
		}
		t.Logf("the error:\n%s", sum.Error)
		nothingLeft(t, e, ns)
	})

	t.Run("dry-run", func(t *testing.T) {
		ns := "dry"
		e.Source.Claim(t, ns, "data")
		sum, _, err := migrate(t, e, kc, "-n", ns, "--all-pvcs", "--proxy", e.ProxyURL, "--dry-run", "--create-namespaces", "--create-target-pvcs")
		if err != nil || sum.Error != "" {
			t.Fatalf("dry run: %v %s", err, sum.Error)
		}
		if len(sum.Volumes) != 0 {
			t.Errorf("a dry run copied: %+v", sum.Volumes)
		}
		if len(sum.Senders) != 1 || sum.Senders[0].Target != ns+"/data" {
			t.Errorf("the plan of the dry run: senders %+v", sum.Senders)
		}
		nothingLeft(t, e, ns)
	})

	t.Run("sender-killed-resumes", func(t *testing.T) {
		ns := "killed"
		dir := e.Source.Claim(t, ns, "data")
		const size = 48 << 20
		if _, err := treegen.Generate(t.Context(), dir, treegen.Spec{LargeFiles: 1, LargeSize: size, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		killed := make(chan string, 1)
		go killSenderMidway(t.Context(), e.Source, ns, killed)
		sum, _, err := migrate(t, e, kc, "-n", ns, "--pvc", "data", "--proxy", e.ProxyURL, "--bwlimit", "8MiB",
			"--create-namespaces", "--create-target-pvcs")
		if err != nil || !sum.Verified {
			t.Fatalf("%v, summary %+v", err, sum)
		}
		select {
		case pod := <-killed:
			t.Logf("killed %s", pod)
		default:
			t.Fatal("no sender pod was killed: the test did not test anything")
		}
		v := sum.Volumes[0]
		if v.Retries < 1 {
			t.Errorf("retries %d after a killed sender", v.Retries)
		}
		// The last sender resumed from what the first one left: it sent less than all.
		if v.SentBytes >= size {
			t.Errorf("the replacement sender sent %d bytes of %d: it started over", v.SentBytes, size)
		}
		same(t, ns, dir, e.Target.VolumePath(t, ns, "data"))
		nothingLeft(t, e, ns)
	})
}

// killSenderMidway deletes the first sender pod of namespace ns once its progress report
// shows data sent, and says which pod it killed.
func killSenderMidway(ctx context.Context, s *env.Side, ns string, killed chan<- string) {
	cs := s.Client()
	wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "ferry.dev/role=progress"})
		if err != nil || len(cms.Items) == 0 {
			return false, nil
		}
		var rep struct {
			BytesSent int64 `json:"bytes_sent"`
		}
		if json.Unmarshal([]byte(cms.Items[0].Data["report"]), &rep) != nil || rep.BytesSent < 8<<20 {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "ferry.dev/role=sender"})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		p := pods.Items[0]
		if err := cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			return false, nil
		}
		killed <- p.Name
		return true, nil
	})
}
