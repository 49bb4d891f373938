package env

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/ferrydvm/ferry/internal/kube"
)

// Claim creates a namespace (unless it exists) and a bound 2 GiB claim on the side, and
// returns the folder that backs it.
func (s *Side) Claim(t testing.TB, ns, name string) string {
	t.Helper()
	cs := s.Client()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("%s: create namespace %s: %v", s.Name, ns, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: create claim %s/%s: %v", s.Name, ns, name, err)
	}
	return s.VolumePath(t, ns, name)
}

// VolumePath waits until a claim is bound and returns its folder.
func (s *Side) VolumePath(t testing.TB, ns, name string) string {
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

// migrationKinds are the kinds of object a migration creates and must delete.
var migrationKinds = []schema.GroupVersionResource{
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	kube.RouteGVR,
}

// Leftovers lists, as kind/name, the objects of ferry's migrations still in a namespace
// of the side; a kind that cannot be listed is named with the error.
func (s *Side) Leftovers(ctx context.Context, ns string) []string {
	sel := metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=ferry," + kube.LabelMigration}
	dyn := dynamic.NewForConfigOrDie(s.RESTConfig())
	var left []string
	for _, gvr := range migrationKinds {
		list, err := dyn.Resource(gvr).Namespace(ns).List(ctx, sel)
		if err != nil {
			left = append(left, gvr.Resource+": "+err.Error())
			continue
		}
		for _, o := range list.Items {
			left = append(left, gvr.Resource+"/"+o.GetName())
		}
	}
	return left
}
