package cluster_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// TestTwoClusters starts a source and a target cluster side by side and checks that
// each is a working, separate API server: client-go, kubectl and CRDs.
func TestTwoClusters(t *testing.T) {
	clusters := cluster.StartAll(t, cluster.Options{Name: "source"}, cluster.Options{Name: "target"})
	for _, c := range clusters {
		t.Run(c.Name, func(t *testing.T) {
			checkCoreObjects(t, c)
			checkKubectl(t, c)
			checkCRD(t, c)
		})
	}
	// The clusters are separate: the namespace made in one is absent from the other.
	ctx := t.Context()
	for i, c := range clusters {
		other := clusters[1-i]
		_, err := c.Client().CoreV1().Namespaces().Get(ctx, "smoke-"+other.Name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("cluster %s: get namespace smoke-%s: want NotFound, got %v", c.Name, other.Name, err)
		}
	}
}

func checkCoreObjects(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	cs := c.Client()
	ns := "smoke-" + c.Name
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Data:       map[string]string{"cluster": c.Name},
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list configmaps: %v", err)
	}
	var found bool
	for _, item := range list.Items {
		if item.Name == "hello" && item.Data["cluster"] == c.Name {
			found = true
		}
	}
	if !found {
		t.Errorf("configmap hello with data cluster=%s not among %d listed in %s", c.Name, len(list.Items), ns)
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("get default service account: %v", err)
	}
}

func checkKubectl(t *testing.T, c *cluster.Cluster) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// The rule of every ferry integration test: skip locally, never under CI.
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("kubectl not installed (CI is set: failing instead of skipping): %v", err)
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("kubectl not installed: %v", err)
		}
		t.Skipf("kubectl not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.Kubeconfig, "--context", c.Context, "get", "ns").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get ns: %v\n%s", err, out)
	}
	for _, want := range []string{"default", "kube-system", "smoke-" + c.Name} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl get ns: no %q in\n%s", want, out)
		}
	}
}

func checkCRD(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.e2e.ferry.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "e2e.ferry.dev",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{
					OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object",
						Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"spec": {
								Type: "object",
								Properties: map[string]apiextensionsv1.JSONSchemaProps{
									"size": {Type: "integer"},
								},
							},
						},
					},
				},
			}},
		},
	}
	c.CreateCRD(t, crd)

	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("build dynamic client: %v", err)
	}
	gvr := schema.GroupVersionResource{Group: "e2e.ferry.dev", Version: "v1alpha1", Resource: "widgets"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "e2e.ferry.dev/v1alpha1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": "w1"},
		"spec":       map[string]any{"size": int64(3)},
	}}
	// Established means served, but the handler can lag by a moment: retry NotFound.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace("default").Create(ctx, obj, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("create widget: %v", err)
	}
	got, err := dyn.Resource(gvr).Namespace("default").Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get widget: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 3 {
		t.Errorf("widget w1: spec.size = %d, want 3", size)
	}
}
