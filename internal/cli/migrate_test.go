package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// twoContexts writes a kubeconfig with contexts "old" and "new"; nothing listens there.
func twoContexts(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	text := `apiVersion: v1
kind: Config
clusters:
- {name: old, cluster: {server: "https://127.0.0.1:1"}}
- {name: new, cluster: {server: "https://127.0.0.1:2"}}
users:
- {name: admin, user: {token: t0ken}}
contexts:
- {name: old, context: {cluster: old, user: admin}}
- {name: new, context: {cluster: new, user: admin}}
current-context: old
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mcFile writes a MigrationController manifest as the MTC documentation shows them.
func mcFile(t *testing.T, extra ...string) string {
	text := `apiVersion: migration.openshift.io/v1alpha1
kind: MigrationController
metadata: {name: migration-controller, namespace: openshift-migration}
spec:
  stunnel_tcp_proxy: http://u:p%40ss@proxy.corp:3128
  rsync_opt_bwlimit: 1000
  rsync_opt_delete: false
  rsync_backoff_limit: 5
  source_rsync_pod_memory_limits: 1Gi
`
	for _, e := range extra {
		text += "  " + e + "\n"
	}
	path := filepath.Join(t.TempDir(), "mc.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrateSpec(t *testing.T) {
	kc := twoContexts(t)
	base := func() *MigrateOptions {
		return &MigrateOptions{Kubeconfig: kc, SourceContext: "old", TargetContext: "new", Namespaces: []string{"shop"},
			Endpoint: "route", Output: "text"}
	}
	tests := []struct {
		name   string
		mutate func(*MigrateOptions)
		usage  string // "" when the spec is valid
		check  func(*testing.T, kube.Spec)
	}{
		{"pvc with target name", func(o *MigrateOptions) { o.PVCs = []string{"db:db-new"}; o.TargetNamespace = "shop2" }, "",
			func(t *testing.T, s kube.Spec) {
				want := kube.Volume{Namespace: "shop", Name: "db", TargetNamespace: "shop2", TargetName: "db-new"}
				if len(s.Volumes) != 1 || s.Volumes[0].Namespace != want.Namespace || s.Volumes[0].TargetName != want.TargetName || s.Volumes[0].TargetNamespace != want.TargetNamespace {
					t.Errorf("volumes %+v", s.Volumes)
				}
				if s.Type != v1alpha1.MigrationTypeStage || s.Endpoint != v1alpha1.EndpointRoute {
					t.Errorf("type %s endpoint %s", s.Type, s.Endpoint)
				}
			}},
		{"cutover, nodeport, classes", func(o *MigrateOptions) {
			o.Cutover, o.Endpoint, o.StorageClassMap, o.PVCs = true, "NodePort", []string{"gp2=ssd"}, []string{"shop/db"}
		}, "", func(t *testing.T, s kube.Spec) {
			if s.Type != v1alpha1.MigrationTypeCutOver || s.Endpoint != v1alpha1.EndpointNodePort || s.StorageClassMap["gp2"] != "ssd" {
				t.Errorf("%+v", s)
			}
		}},
		{"from a MigrationController", func(o *MigrateOptions) { o.Configs = []string{mcFile(t)}; o.PVCs = []string{"db"} }, "",
			func(t *testing.T, s kube.Spec) {
				if len(s.Proxies) != 1 || s.Proxies[0] != "http://u:p%40ss@proxy.corp:3128" {
					t.Errorf("proxies %v", s.Proxies)
				}
				if s.BandwidthLimit != "1000" || !s.NoDelete || s.BackoffLimit != 5 {
					t.Errorf("bwlimit %q, no-delete %v, backoff %d", s.BandwidthLimit, s.NoDelete, s.BackoffLimit)
				}
				if q := s.SenderResources.Limits.Memory(); q.String() != "1Gi" {
					t.Errorf("sender memory limit %v", q)
				}
			}},
		{"proxy flag wins over the manifest", func(o *MigrateOptions) {
			o.Configs, o.Proxies, o.PVCs = []string{mcFile(t)}, []string{"http://other:3128"}, []string{"db"}
		}, "", func(t *testing.T, s kube.Spec) {
			if len(s.Proxies) != 1 || s.Proxies[0] != "http://other:3128" {
				t.Errorf("proxies %v", s.Proxies)
			}
		}},
		{"endpoint from the manifest", func(o *MigrateOptions) {
			o.Endpoint, o.Configs, o.PVCs = "", []string{mcFile(t, "rsync_endpoint_type: NodePort")}, []string{"db"}
		}, "", func(t *testing.T, s kube.Spec) {
			if s.Endpoint != v1alpha1.EndpointNodePort {
				t.Errorf("endpoint %s, want the manifest's NodePort", s.Endpoint)
			}
		}},
		{"--endpoint wins over the manifest", func(o *MigrateOptions) {
			o.Endpoint, o.Configs, o.PVCs = "loadbalancer", []string{mcFile(t, "rsync_endpoint_type: NodePort")}, []string{"db"}
		}, "", func(t *testing.T, s kube.Spec) {
			if s.Endpoint != v1alpha1.EndpointLoadBalancer {
				t.Errorf("endpoint %s, want the flag's LoadBalancer", s.Endpoint)
			}
		}},
		{"no endpoint anywhere: a Route", func(o *MigrateOptions) { o.Endpoint, o.PVCs = "", []string{"db"} }, "",
			func(t *testing.T, s kube.Spec) {
				if s.Endpoint != v1alpha1.EndpointRoute {
					t.Errorf("endpoint %s, want Route", s.Endpoint)
				}
			}},
		{"ClusterIP in the manifest", func(o *MigrateOptions) {
			o.Endpoint, o.Configs = "", []string{mcFile(t, "rsync_endpoint_type: ClusterIP")}
		}, "spec.rsync_endpoint_type", nil},
		{"bad resource in the manifest", func(o *MigrateOptions) { o.Configs = []string{mcFile(t, "target_rsync_pod_cpu_limits: lots")} }, "not a quantity", nil},
		{"no source", func(o *MigrateOptions) { o.SourceContext = "" }, "--source-context", nil},
		{"no namespace", func(o *MigrateOptions) { o.Namespaces = nil }, "-n NAMESPACE", nil},
		{"stage and cutover", func(o *MigrateOptions) { o.Stage, o.Cutover = true, true }, "exclude", nil},
		{"bad endpoint", func(o *MigrateOptions) { o.Endpoint = "vpn" }, "--endpoint", nil},
		{"bad class map", func(o *MigrateOptions) { o.StorageClassMap = []string{"gp2"} }, "SRC=DST", nil},
		{"target namespace with two", func(o *MigrateOptions) { o.Namespaces = []string{"a", "b"}; o.TargetNamespace = "c" }, "exactly one -n", nil},
		{"unqualified pvc with two", func(o *MigrateOptions) { o.Namespaces = []string{"a", "b"}; o.PVCs = []string{"db"} }, "NAMESPACE/NAME", nil},
		{"bad bwlimit", func(o *MigrateOptions) { o.BandwidthLimit = "fast" }, "--bwlimit", nil},
		{"bad output", func(o *MigrateOptions) { o.Output = "yaml" }, "-o", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mutate(o)
			g := &GlobalOptions{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, LogFormat: "text", LogLevel: "info"}
			spec, err := o.spec(t.Context(), g)
			if tt.usage == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, spec)
				return
			}
			var ue *exitError
			if err == nil || !strings.Contains(err.Error(), tt.usage) || !errors.As(err, &ue) || ue.code != 2 {
				t.Errorf("error %v (%T), want a usage error about %q", err, err, tt.usage)
			}
		})
	}
}
