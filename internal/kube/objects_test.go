package kube

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

func testMigration(t *testing.T, mutate func(*Spec)) *migration {
	t.Helper()
	spec := Spec{
		ID: "abc123", Source: &Cluster{Name: "src"}, Target: &Cluster{Name: "dst"},
		Volumes: []Volume{{Namespace: "shop", Name: "db"}},
		Proxies: []string{"http://user:s3cret@proxy:3128", "http://second:3128"},
	}
	if mutate != nil {
		mutate(&spec)
	}
	spec, err := spec.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &migration{spec: spec}
}

func TestSenderPod(t *testing.T) {
	m := testMigration(t, nil)
	s := SenderPlan{Volume: Volume{Namespace: "shop", Name: "db", TargetName: "db2"}, Node: "node-1"}
	rx := ReceiverPlan{Namespace: "shop", Address: "rx.apps.example.com:443", Server: "rx.apps.example.com"}
	pod := m.senderPod(s, rx, 2)
	if pod.Name != "ferry-abc123-tx-db-2" || pod.Namespace != "shop" || pod.Spec.NodeName != "node-1" {
		t.Errorf("pod %s/%s on %q", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	args := strings.Join(pod.Spec.Containers[0].Args, " ")
	for _, want := range []string{
		"send /var/run/ferry/volumes/source/ rx.apps.example.com:443/db2",
		"--server-name rx.apps.example.com", "--delete", "--report-configmap ferry-abc123-progress-db",
		"--proxy $(FERRY_PROXY_0) --proxy $(FERRY_PROXY_1)",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	b, _ := json.Marshal(pod)
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "proxy:3128") {
		t.Errorf("the pod spec holds a proxy URL: %s", b)
	}
	mount := pod.Spec.Containers[0].VolumeMounts[1]
	if !mount.ReadOnly || pod.Spec.Volumes[1].PersistentVolumeClaim.ClaimName != "db" {
		t.Errorf("source claim mount %+v", mount)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restart policy %s: the migration replaces failed senders itself", pod.Spec.RestartPolicy)
	}
}

func TestSenderOptions(t *testing.T) {
	m := testMigration(t, func(s *Spec) { s.NoDelete, s.Checksum, s.Compress, s.BandwidthLimit = true, true, true, "20MiB" })
	args := m.senderArgs(SenderPlan{Volume: Volume{Namespace: "a", Name: "b"}}, ReceiverPlan{Address: "h:1", Server: "h"})
	if slices.Contains(args, "--delete") || !slices.Contains(args, "--checksum") || !slices.Contains(args, "--compress") || !slices.Contains(args, "20MiB") {
		t.Errorf("args %v", args)
	}
	plain := testMigration(t, func(*Spec) {}).senderArgs(SenderPlan{Volume: Volume{Namespace: "a", Name: "b"}}, ReceiverPlan{Address: "h:1", Server: "h"})
	if !slices.Contains(plain, "--delete") || slices.Contains(plain, "--checksum") || slices.Contains(plain, "--compress") {
		t.Errorf("default args %v", plain)
	}
}

func TestReceiverPod(t *testing.T) {
	pod := receiverPod("abc123", "shop", "img", []string{"db", "logs"}, corev1.ResourceRequirements{})
	args := strings.Join(pod.Spec.Containers[0].Args, " ")
	want := "serve --listen $(POD_IP):2222 --certs /var/run/ferry/certs --volume db=/var/run/ferry/volumes/db --volume logs=/var/run/ferry/volumes/logs"
	if args != want {
		t.Errorf("args\n%s\nwant\n%s", args, want)
	}
	if len(pod.Spec.Volumes) != 3 || pod.Spec.Volumes[2].PersistentVolumeClaim.ClaimName != "logs" {
		t.Errorf("volumes %+v", pod.Spec.Volumes)
	}
	if pod.Labels[LabelMigration] != "abc123" || pod.Labels[LabelRole] != "receiver" {
		t.Errorf("labels %v", pod.Labels)
	}
}

func TestSpecDefaults(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		err    string
	}{
		{"defaults", nil, ""},
		{"no volumes", func(s *Spec) { s.Volumes = nil }, "no volume"},
		{"bad id", func(s *Spec) { s.ID = "Bad_ID" }, "migration ID"},
		{"ingress without domain", func(s *Spec) { s.Endpoint = v1alpha1.EndpointIngress }, "--ingress-domain"},
		{"bad endpoint", func(s *Spec) { s.Endpoint = "Tunnel" }, "endpoint"},
		{"bad type", func(s *Spec) { s.Type = "Rollback" }, "migration type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{ID: "x1", Source: &Cluster{}, Target: &Cluster{}, Volumes: []Volume{{Namespace: "a", Name: "b"}}}
			if tt.mutate != nil {
				tt.mutate(&spec)
			}
			got, err := spec.withDefaults()
			if tt.err == "" {
				if err != nil || got.Endpoint != v1alpha1.EndpointRoute || got.Type != v1alpha1.MigrationTypeStage || got.BackoffLimit != 20 {
					t.Errorf("%+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one about %q", err, tt.err)
			}
		})
	}
}
