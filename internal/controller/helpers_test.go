package controller

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
)

const (
	ns       = "openshift-migration"
	token    = "s3cr3t-token-value"
	proxyURL = "http://migrator:pr0xy-pa55@10.0.0.5:3128"
)

// testCA is a CA certificate for MigClusters' caBundle.
var testCA = func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}()

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a host cluster with a remote source MigCluster (and its token Secret), the
// host MigCluster, both Ready, and a DVM of two claims.
type fixture struct {
	client  client.WithWatch
	dynamic *dynamicfake.FakeDynamicClient
	events  *events.FakeRecorder
	dvm     *v1alpha1.DirectVolumeMigration
	patches chan time.Time // status patches of DVMs
}

func ready(mc *v1alpha1.MigCluster) *v1alpha1.MigCluster {
	mc.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonConnected, LastTransitionTime: metav1.Now()}}
	return mc
}

func sourceCluster() *v1alpha1.MigCluster {
	return &v1alpha1.MigCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "source", Namespace: ns},
		Spec: v1alpha1.MigClusterSpec{
			URL:                     "https://api.source.example.com:6443",
			ServiceAccountSecretRef: &corev1.ObjectReference{Name: "source-token", Namespace: "openshift-config"},
			CABundle:                testCA,
		},
	}
}

func testDVM() *v1alpha1.DirectVolumeMigration {
	return &v1alpha1.DirectVolumeMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, UID: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", Generation: 1},
		Spec: v1alpha1.DirectVolumeMigrationSpec{
			SrcMigClusterRef:  &corev1.ObjectReference{Name: "source", Namespace: ns},
			DestMigClusterRef: &corev1.ObjectReference{Name: "host"},
			PersistentVolumeClaims: []v1alpha1.PVCToMigrate{
				{PVCReference: v1alpha1.PVCReference{Name: "db", Namespace: "shop"}, Verify: true},
				{PVCReference: v1alpha1.PVCReference{Name: "uploads", Namespace: "shop"}, TargetName: "uploads-v2", TargetNamespace: "shop-new",
					TargetStorageClass: "fast", TargetAccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}},
			},
			CreateDestinationNamespaces: true,
		},
	}
}

// migrationController is a MigrationController in MTC's form, as YAML fields of spec.
func migrationController(t *testing.T, specYAML string) *unstructured.Unstructured {
	t.Helper()
	var obj map[string]any
	doc := "apiVersion: migration.openshift.io/v1alpha1\nkind: MigrationController\nmetadata: {name: migration-controller, namespace: " + ns + ", uid: mc-1, generation: 1}\nspec:\n" + specYAML
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func newFixture(t *testing.T, mc *unstructured.Unstructured, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{dvm: testDVM(), events: events.NewFakeRecorder(100), patches: make(chan time.Time, 1000)}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "source-token", Namespace: "openshift-config"}, Data: map[string][]byte{v1alpha1.SATokenKey: []byte(token + "\n")}}
	host := ready(&v1alpha1.MigCluster{ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: ns}, Spec: v1alpha1.MigClusterSpec{IsHostCluster: true}})
	if len(objs) == 0 {
		objs = []client.Object{ready(sourceCluster()), host, f.dvm.DeepCopy()}
	}
	f.client = fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(append(objs, secret)...).
		WithStatusSubresource(&v1alpha1.DirectVolumeMigration{}, &v1alpha1.MigCluster{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := obj.(*v1alpha1.DirectVolumeMigration); ok {
				f.patches <- time.Now()
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).
		Build()
	var dynObjs []runtime.Object
	if mc != nil {
		dynObjs = append(dynObjs, mc)
	}
	f.dynamic = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		config.MigrationControllers: "MigrationControllerList",
		config.Proxies:              "ProxyList",
		config.ClusterVersions:      "ClusterVersionList",
	}, dynObjs...)
	return f
}

func (f *fixture) reconciler(migrate MigrateFunc) *DirectVolumeMigrationReconciler {
	return &DirectVolumeMigrationReconciler{
		Client: f.client, Secrets: f.client, Dynamic: f.dynamic, Host: &rest.Config{Host: "https://host.example.com:6443", BearerToken: "host-token"},
		Namespace: ns, Env: map[string]string{}, Image: "ferry:test", Recorder: f.events, Migrate: migrate,
		ServesRoutes:   func(context.Context, *rest.Config) (bool, error) { return true, nil },
		StatusInterval: 50 * time.Millisecond,
	}
}

func (f *fixture) get(t *testing.T) *v1alpha1.DirectVolumeMigration {
	t.Helper()
	var d v1alpha1.DirectVolumeMigration
	if err := f.client.Get(t.Context(), client.ObjectKeyFromObject(f.dvm), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// eventually polls cond every 10 ms for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drain returns the events recorded so far.
func drain(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}
