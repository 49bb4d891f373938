package controller

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

func TestBuildSpecFromMigrationController(t *testing.T) {
	f := newFixture(t, migrationController(t, `  stunnel_tcp_proxy: `+proxyURL+`
  rsync_opt_bwlimit: "500"
  rsync_opt_delete: "false"
  rsync_backoff_limit: 7
  rsync_opt_extras: "--checksum"
  cluster_subdomain: apps.target.example.com
  source_rsync_pod_cpu_limits: "1"
  source_rsync_pod_memory_requests: 256Mi
  target_rsync_pod_memory_limits: 1Gi
`))
	s, err := readSettings(t.Context(), f.dynamic, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := buildSpec(f.dvm, s, "ferry:test")
	if err != nil {
		t.Fatal(err)
	}
	want := kube.Spec{
		ID: "0a1b2c3d4e", Image: "ferry:test", Type: v1alpha1.MigrationTypeCutOver,
		CreateTargetClaims: true, CreateNamespaces: true, BackoffLimit: 7,
		Proxies: []string{proxyURL}, BandwidthLimit: "500", NoDelete: true, Checksum: true,
		IngressDomain: "apps.target.example.com",
	}
	if spec.ID != want.ID || spec.Image != want.Image || spec.Type != want.Type || spec.CreateTargetClaims != want.CreateTargetClaims ||
		spec.CreateNamespaces != want.CreateNamespaces || spec.BackoffLimit != want.BackoffLimit || strings.Join(spec.Proxies, ",") != proxyURL ||
		spec.BandwidthLimit != want.BandwidthLimit || spec.NoDelete != want.NoDelete || spec.Checksum != want.Checksum || spec.IngressDomain != want.IngressDomain {
		t.Errorf("spec\n%+v\nwant\n%+v", spec, want)
	}
	if len(spec.Volumes) != 2 {
		t.Fatalf("volumes %+v", spec.Volumes)
	}
	v := spec.Volumes[1]
	if v.Namespace != "shop" || v.Name != "uploads" || v.TargetNamespace != "shop-new" || v.TargetName != "uploads-v2" ||
		v.TargetStorageClass != "fast" || len(v.TargetAccessModes) != 1 || v.TargetAccessModes[0] != corev1.ReadWriteMany {
		t.Errorf("volume %+v", v)
	}
	if q := spec.SenderResources.Limits[corev1.ResourceCPU]; q.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("sender cpu limit %v", q.String())
	}
	if q := spec.SenderResources.Requests[corev1.ResourceMemory]; q.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("sender memory request %v", q.String())
	}
	if q := spec.ReceiverResources.Limits[corev1.ResourceMemory]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("receiver memory limit %v", q.String())
	}
}

func TestBuildSpecDefaults(t *testing.T) {
	f := newFixture(t, nil) // no MigrationController: every default
	s, err := readSettings(t.Context(), f.dynamic, ns, map[string]string{"HTTPS_PROXY": "http://api-proxy:3128"})
	if err != nil {
		t.Fatal(err)
	}
	dvm := f.dvm.DeepCopy()
	dvm.Spec.PersistentVolumeClaims[0].Verify = false
	spec, err := buildSpec(dvm, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Type != v1alpha1.MigrationTypeCutOver || spec.BackoffLimit != 20 || len(spec.Proxies) != 0 || spec.NoDelete || spec.Checksum || spec.BandwidthLimit != "" {
		t.Errorf("defaults: %+v", spec)
	}
	if spec.SenderResources.Limits != nil || spec.ReceiverResources.Requests != nil {
		t.Errorf("resources without settings: %+v %+v", spec.SenderResources, spec.ReceiverResources)
	}
	dvm.Spec.MigrationType, dvm.Spec.BackOffLimit = v1alpha1.MigrationTypeStage, 3
	if spec, _ = buildSpec(dvm, s, ""); spec.Type != v1alpha1.MigrationTypeStage || spec.BackoffLimit != 3 {
		t.Errorf("the DVM's type and backOffLimit are not used: %+v", spec)
	}
}

func TestBuildSpecNamesBadFields(t *testing.T) {
	f := newFixture(t, migrationController(t, "  source_rsync_pod_cpu_limits: lots\n  target_rsync_pod_memory_requests: 1 GB\n"))
	s, err := readSettings(t.Context(), f.dynamic, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = buildSpec(f.dvm, s, "")
	for _, want := range []string{"spec.source_rsync_pod_cpu_limits", `"lots"`, "spec.target_rsync_pod_memory_requests"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestChooseEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		dvm      v1alpha1.EndpointType
		mc       string
		routes   bool
		routeErr error
		want     v1alpha1.EndpointType
		err      string
	}{
		{"the DVM's own", v1alpha1.EndpointNodePort, "Route", true, nil, v1alpha1.EndpointNodePort, ""},
		{"the MigrationController's", "", "NodePort", true, nil, v1alpha1.EndpointNodePort, ""},
		{"spelt in lower case", "", "route", false, nil, v1alpha1.EndpointRoute, ""},
		{"ClusterIP has no meaning", "", "ClusterIP", true, nil, "", "ClusterIP"},
		{"Route on OpenShift", "", "", true, nil, v1alpha1.EndpointRoute, ""},
		{"LoadBalancer elsewhere", "", "", false, nil, v1alpha1.EndpointLoadBalancer, ""},
		{"discovery fails", "", "", false, errors.New("connection refused"), "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dvm := testDVM()
			dvm.Spec.Endpoint = tt.dvm
			s := &settings{Spec: v1alpha1.MigrationControllerSpec{RsyncEndpointType: tt.mc}}
			got, err := chooseEndpoint(dvm, s, func() (bool, error) { return tt.routes, tt.routeErr })
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got %q, %v; want %q, error with %q", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestMigrationID(t *testing.T) {
	if got := migrationID("0A1B2C3D-4e5f-6789"); got != "0a1b2c3d4e" {
		t.Errorf("migrationID = %q", got)
	}
	if got := migrationID(""); got != "" {
		t.Errorf("migrationID of no UID = %q, want empty (kube picks one)", got)
	}
}
