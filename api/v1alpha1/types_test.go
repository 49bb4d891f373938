package v1alpha1_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// decodeStrict decodes each YAML document of a testdata file into a new T, failing on any
// field the Go types do not have, and checks that encoding the value and decoding it
// again gives the same value.
func decodeStrict[T any](t *testing.T, name string) []*T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*T
	for i, doc := range strings.Split(string(data), "\n---\n") {
		obj := new(T)
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s document %d: %v", name, i+1, err)
		}
		encoded, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		again := new(T)
		if err := yaml.UnmarshalStrict(encoded, again); err != nil {
			t.Fatalf("%s document %d re-encoded: %v\n%s", name, i+1, err, encoded)
		}
		if !reflect.DeepEqual(obj, again) {
			t.Errorf("%s document %d changed in a round trip:\n%s", name, i+1, encoded)
		}
		out = append(out, obj)
	}
	return out
}

func TestMigClusterFixture(t *testing.T) {
	clusters := decodeStrict[v1alpha1.MigCluster](t, "migcluster.yaml")
	if len(clusters) != 2 {
		t.Fatalf("%d clusters", len(clusters))
	}
	host, src := clusters[0], clusters[1]
	if host.Name != "host" || !host.Spec.IsHostCluster || host.Spec.URL != "" || host.Spec.ServiceAccountSecretRef != nil {
		t.Errorf("host %+v", host.Spec)
	}
	if src.Kind != "MigCluster" || src.APIVersion != "migration.openshift.io/v1alpha1" || src.Namespace != "openshift-migration" {
		t.Errorf("source type meta %+v %s", src.TypeMeta, src.Namespace)
	}
	s := src.Spec
	if s.IsHostCluster || s.URL != "https://api.source.example.com:6443" || s.Insecure {
		t.Errorf("source %+v", s)
	}
	if want := (&corev1.ObjectReference{Name: "source-cluster-sa-token", Namespace: "openshift-config"}); !reflect.DeepEqual(s.ServiceAccountSecretRef, want) {
		t.Errorf("secret ref %+v, want %+v", s.ServiceAccountSecretRef, want)
	}
	if !bytes.HasPrefix(s.CABundle, []byte("-----BEGIN CERTIFICATE-----\n")) {
		t.Errorf("caBundle not decoded from base64: %q", s.CABundle)
	}
	if s.ExposedRegistryPath == "" {
		t.Errorf("MTC's exposedRegistryPath was not kept")
	}
	if v1alpha1.SATokenKey != "saToken" {
		t.Errorf("the token key is MTC's saToken, not %q", v1alpha1.SATokenKey)
	}
}

func TestDirectVolumeMigrationFixture(t *testing.T) {
	dvm := decodeStrict[v1alpha1.DirectVolumeMigration](t, "directvolumemigration.yaml")[0]
	s := dvm.Spec
	if dvm.Name != "shop-cutover-dvm" || dvm.Labels["migration.openshift.io/migplan-name"] != "shop" {
		t.Errorf("metadata %+v", dvm.ObjectMeta)
	}
	if s.SrcMigClusterRef == nil || s.SrcMigClusterRef.Name != "source-cluster" || s.DestMigClusterRef == nil || s.DestMigClusterRef.Name != "host" || s.DestMigClusterRef.Namespace != "openshift-migration" {
		t.Errorf("cluster refs %+v %+v", s.SrcMigClusterRef, s.DestMigClusterRef)
	}
	want := []v1alpha1.PVCToMigrate{{
		PVCReference: v1alpha1.PVCReference{Name: "postgres-data", Namespace: "shop"},
		TargetName:   "postgres-data", TargetNamespace: "shop", TargetStorageClass: "gp3-csi",
		TargetAccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, Verify: true,
	}, {
		PVCReference: v1alpha1.PVCReference{Name: "uploads", Namespace: "shop"},
		TargetName:   "uploads-v2", TargetNamespace: "shop-new", TargetStorageClass: "ocs-storagecluster-cephfs",
		TargetAccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
	}}
	if !reflect.DeepEqual(s.PersistentVolumeClaims, want) {
		t.Errorf("claims\n got %+v\nwant %+v", s.PersistentVolumeClaims, want)
	}
	if !s.CreateDestinationNamespaces || !s.DeleteProgressReportingCRs || s.BackOffLimit != 20 || s.MigrationType != v1alpha1.MigrationTypeCutOver || s.Endpoint != "" {
		t.Errorf("spec %+v", s)
	}

	staged := decodeStrict[v1alpha1.DirectVolumeMigration](t, "directvolumemigration-status.yaml")[0]
	if staged.Spec.MigrationType != v1alpha1.MigrationTypeStage || staged.Spec.Endpoint != v1alpha1.EndpointLoadBalancer {
		t.Errorf("spec %+v", staged.Spec)
	}
	st := staged.Status
	if st.Phase != v1alpha1.PhaseRunning || st.ObservedGeneration != 1 || st.Progress != "30%" || st.TransferredBytes != 3<<30 || st.TotalBytes != 10<<30 {
		t.Errorf("status %+v", st)
	}
	if st.StartTimestamp == nil || !st.StartTimestamp.Time.Equal(time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)) || st.CompletionTimestamp != nil {
		t.Errorf("timestamps %v %v", st.StartTimestamp, st.CompletionTimestamp)
	}
	if len(st.Conditions) != 1 || st.Conditions[0].Type != v1alpha1.ConditionReady || st.Conditions[0].Status != "True" {
		t.Errorf("conditions %+v", st.Conditions)
	}
	wantVol := v1alpha1.VolumeProgress{
		PVCRef: v1alpha1.PVCReference{Name: "postgres-data", Namespace: "shop"}, TargetName: "postgres-data",
		Phase: v1alpha1.PhaseRunning, Files: 1200, TotalFiles: 5000, Bytes: 3 << 30, TotalBytes: 10 << 30,
		RateBytesPerSecond: 100 << 20, ETASeconds: 72, Retries: 1, Message: "copying",
	}
	if len(st.Volumes) != 1 || !reflect.DeepEqual(st.Volumes[0], wantVol) {
		t.Errorf("volumes\n got %+v\nwant %+v", st.Volumes, wantVol)
	}
}

// TestMigrationControllerDeepCopy: the hand-written copy of Other shares nothing with the
// original, and the generated rest of the copy reaches every typed field.
func TestMigrationControllerDeepCopy(t *testing.T) {
	n, yes := int64(100), true
	orig := &v1alpha1.MigrationController{Spec: v1alpha1.MigrationControllerSpec{
		StunnelTCPProxy:    "http://proxy:3128",
		FerryTCPProxyChain: []string{"http://a:1", "http://b:2"},
		RsyncOptBwlimit:    &n,
		RsyncOptArchive:    &yes,
		Other: map[string]any{
			"excluded_resources": []any{"imagetags", map[string]any{"deep": "value"}},
			"nested":             map[string]any{"list": []any{float64(1), "two"}},
			"mig_pv_limit":       "100",
			"int":                int64(3),
		},
	}}
	cp := orig.DeepCopyObject().(*v1alpha1.MigrationController)
	if !reflect.DeepEqual(orig, cp) {
		t.Fatalf("copy differs:\n%+v\n%+v", orig.Spec, cp.Spec)
	}
	cp.Spec.FerryTCPProxyChain[0] = "changed"
	*cp.Spec.RsyncOptBwlimit = 1
	*cp.Spec.RsyncOptArchive = false
	cp.Spec.Other["excluded_resources"].([]any)[1].(map[string]any)["deep"] = "changed"
	cp.Spec.Other["nested"].(map[string]any)["list"].([]any)[1] = "changed"
	cp.Spec.Other["added"] = true
	if orig.Spec.FerryTCPProxyChain[0] != "http://a:1" || n != 100 || !yes {
		t.Errorf("typed fields shared with the copy: %+v", orig.Spec)
	}
	if orig.Spec.Other["excluded_resources"].([]any)[1].(map[string]any)["deep"] != "value" ||
		orig.Spec.Other["nested"].(map[string]any)["list"].([]any)[1] != "two" || orig.Spec.Other["added"] != nil {
		t.Errorf("Other shared with the copy: %+v", orig.Spec.Other)
	}
	var empty v1alpha1.MigrationControllerSpec
	if c := empty.DeepCopy(); c.Other != nil {
		t.Errorf("a nil Other copied as %#v", c.Other)
	}
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{
		&v1alpha1.MigrationController{}, &v1alpha1.MigrationControllerList{},
		&v1alpha1.MigCluster{}, &v1alpha1.MigClusterList{},
		&v1alpha1.DirectVolumeMigration{}, &v1alpha1.DirectVolumeMigrationList{},
	} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 {
			t.Errorf("%T: %v %v", obj, gvks, err)
			continue
		}
		want := strings.TrimPrefix(reflect.TypeOf(obj).String(), "*v1alpha1.")
		if gvks[0].Group != v1alpha1.GroupName || gvks[0].Version != v1alpha1.Version || gvks[0].Kind != want {
			t.Errorf("%T registered as %v", obj, gvks[0])
		}
	}
	if got := v1alpha1.Resource("directvolumemigrations").String(); got != "directvolumemigrations.migration.openshift.io" {
		t.Errorf("Resource: %s", got)
	}
}
