package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// claim creates a namespace (if needed) and a bound claim on a side, and returns the
// folder that backs it.
func claim(t *testing.T, s *env.Side, ns, name string) string {
	t.Helper()
	ctx := t.Context()
	cs := s.Client()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create claim %s/%s: %v", ns, name, err)
	}
	return volumePath(t, s, ns, name)
}

// volumePath waits until a claim is bound and returns its folder.
func volumePath(t *testing.T, s *env.Side, ns, name string) string {
	t.Helper()
	var dir string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		dir, err = s.Agent.VolumePath(ns, name)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: claim %s/%s not bound: %v", s.Name, ns, name, err)
	}
	return dir
}

// summary is the last line of `ferry migrate -o json`.
type summary struct {
	Event    string                    `json:"event"`
	ID       string                    `json:"id"`
	Verified bool                      `json:"verified"`
	Volumes  []v1alpha1.VolumeProgress `json:"volumes"`
	Error    string                    `json:"error"`
	Senders  []struct {
		Volume struct{ Namespace, Name string } `json:"volume"`
		Target string                           `json:"target"`
	} `json:"senders"`
}

// migrate runs `ferry migrate -o json` with args and returns its summary, the number of
// progress events it printed, and its exit error.
func migrate(t *testing.T, e *env.Env, kubeconfig string, args ...string) (summary, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	base := []string{"migrate", "--kubeconfig", kubeconfig, "--source-context", "source", "--target-context", "target",
		"--image", env.Image, "-o", "json"}
	cmd := exec.CommandContext(ctx, e.Ferry, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	shown := strings.ReplaceAll(strings.Join(args, " "), e.ProxyURL, "<squid with credentials>")
	t.Logf("ferry migrate %s: %v in %v", shown, err, time.Since(start).Round(time.Millisecond))
	var sum summary
	progress := 0
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev summary
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			t.Errorf("not a JSON line: %s", sc.Text())
			continue
		}
		switch ev.Event {
		case "progress":
			progress++
		case "summary":
			sum = ev
		case "step":
			t.Logf("  %s", sc.Text())
		}
	}
	if sum.Event != "summary" || err != nil && sum.Error == "" {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return sum, progress, err
}

// same fails the test when two trees differ.
func same(t *testing.T, what, a, b string) {
	t.Helper()
	diffs, err := treediff.Compare(t.Context(), a, b, treediff.Options{})
	if err != nil {
		t.Fatalf("%s: compare: %v", what, err)
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("%s: %d more differences", what, len(diffs)-10)
			break
		}
		t.Errorf("%s: %v", what, d)
	}
}

// nothingLeft fails the test when an object ferry made is still in a cluster.
func nothingLeft(t *testing.T, e *env.Env, namespaces ...string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=ferry,ferry.dev/migration"}
	for _, s := range []*env.Side{e.Source, e.Target} {
		cs := s.Client()
		for _, ns := range namespaces {
			var left []string
			pods, _ := cs.CoreV1().Pods(ns).List(t.Context(), sel)
			for _, p := range pods.Items {
				left = append(left, "pod/"+p.Name)
			}
			svcs, _ := cs.CoreV1().Services(ns).List(t.Context(), sel)
			for _, o := range svcs.Items {
				left = append(left, "service/"+o.Name)
			}
			secrets, _ := cs.CoreV1().Secrets(ns).List(t.Context(), sel)
			for _, o := range secrets.Items {
				left = append(left, "secret/"+o.Name)
			}
			cms, _ := cs.CoreV1().ConfigMaps(ns).List(t.Context(), sel)
			for _, o := range cms.Items {
				left = append(left, "configmap/"+o.Name)
			}
			ings, _ := cs.NetworkingV1().Ingresses(ns).List(t.Context(), sel)
			for _, o := range ings.Items {
				left = append(left, "ingress/"+o.Name)
			}
			roles, _ := cs.RbacV1().Roles(ns).List(t.Context(), sel)
			for _, o := range roles.Items {
				left = append(left, "role/"+o.Name)
			}
			if len(left) > 0 {
				t.Errorf("%s: left in %s: %v", s.Name, ns, left)
			}
		}
	}
}
