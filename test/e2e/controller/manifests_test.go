package controller_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoRoot is ferry's repository root, found from this file's place in it.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// build runs kustomize (its Go API, as `kubectl apply -k` does) on a folder of config/,
// or on an overlay of it that moves everything to namespace when namespace is not "".
func build(t testing.TB, dir, namespace string) []*unstructured.Unstructured {
	t.Helper()
	path := filepath.Join(repoRoot(), "config", dir)
	if namespace != "" {
		overlay := t.TempDir()
		rel, err := filepath.Rel(overlay, path) // kustomize wants a relative path
		if err != nil {
			t.Fatal(err)
		}
		kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " + namespace + "\nresources:\n- " + rel + "\n"
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
			t.Fatal(err)
		}
		path = overlay
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", path, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// into converts an object to its typed form, refusing unknown fields.
func into(t *testing.T, u *unstructured.Unstructured, out any) {
	t.Helper()
	if u == nil {
		t.Fatalf("missing object for %T", out)
	}
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// TestManifests builds config/default and checks what a cluster gets: the CRDs, the
// controller's identity and permissions, and its Deployment, all in one namespace.
func TestManifests(t *testing.T) {
	objs := build(t, "default", "")
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if ns := o.GetNamespace(); ns != "" && ns != "openshift-migration" {
			t.Errorf("%s/%s is in namespace %s", o.GetKind(), o.GetName(), ns)
		}
	}
	for _, want := range []string{
		"CustomResourceDefinition/directvolumemigrations.migration.openshift.io", "CustomResourceDefinition/migclusters.migration.openshift.io",
		"CustomResourceDefinition/migrationcontrollers.migration.openshift.io", "Namespace/openshift-migration",
		"ServiceAccount/ferry-controller", "ClusterRole/ferry-controller", "ClusterRoleBinding/ferry-controller",
		"Role/ferry-controller-leader-election", "RoleBinding/ferry-controller-leader-election",
		"Deployment/ferry-controller", "Service/ferry-controller-metrics",
	} {
		if !slices.Contains(kinds, want) {
			t.Errorf("config/default has no %s; it has %v", want, kinds)
		}
	}

	var dep appsv1.Deployment
	into(t, find(objs, "Deployment", "ferry-controller"), &dep)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.ServiceAccountName != "ferry-controller" || c.Args[0] != "controller" || !slices.Contains(c.Args, "--leader-elect=true") ||
		c.LivenessProbe == nil || c.ReadinessProbe == nil || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("Deployment: %+v", pod)
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext %+v", sc)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod securityContext %+v", pod.SecurityContext)
	}

	var crb rbacv1.ClusterRoleBinding
	into(t, find(objs, "ClusterRoleBinding", "ferry-controller"), &crb)
	if crb.Subjects[0].Namespace != "openshift-migration" || crb.RoleRef.Name != "ferry-controller" {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
	var role rbacv1.ClusterRole
	into(t, find(objs, "ClusterRole", "ferry-controller"), &role)
	for _, need := range needed {
		if !allows(role.Rules, need) {
			t.Errorf("the ClusterRole does not allow %s", need)
		}
	}
}

// TestManifestsElsewhere moves the install to another namespace with an overlay, as the
// end-to-end test does: the bindings follow.
func TestManifestsElsewhere(t *testing.T) {
	objs := build(t, "default", "ferry-system")
	var crb rbacv1.ClusterRoleBinding
	into(t, find(objs, "ClusterRoleBinding", "ferry-controller"), &crb)
	if crb.Subjects[0].Namespace != "ferry-system" {
		t.Errorf("the binding names namespace %s", crb.Subjects[0].Namespace)
	}
	if find(objs, "Namespace", "ferry-system") == nil {
		t.Error("no Namespace ferry-system")
	}
}

// need is one permission: "verb group/resource".
type need string

// needed are permissions the controller and internal/kube use; the end-to-end test runs
// the controller with exactly the ClusterRole, which proves the rest.
var needed = []need{
	"update migration.openshift.io/directvolumemigrations/finalizers", "patch migration.openshift.io/directvolumemigrations/status",
	"update migration.openshift.io/migclusters/status", "watch migration.openshift.io/migrationcontrollers",
	"get config.openshift.io/proxies", "get config.openshift.io/clusterversions",
	"create /pods", "deletecollection /pods", "create /secrets", "get /secrets", "create /configmaps", "patch /configmaps",
	"create rbac.authorization.k8s.io/roles", "create rbac.authorization.k8s.io/rolebindings", "create /serviceaccounts",
	"create /persistentvolumeclaims", "create /namespaces", "list /nodes", "create route.openshift.io/routes",
	"create networking.k8s.io/ingresses", "create events.k8s.io/events", "create /events",
}

func (n need) String() string { return string(n) }

func allows(rules []rbacv1.PolicyRule, n need) bool {
	verb, gr, _ := strings.Cut(string(n), " ")
	group, resource, _ := strings.Cut(gr, "/")
	for _, r := range rules {
		if slices.Contains(r.Verbs, verb) && slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) {
			return true
		}
	}
	return false
}
