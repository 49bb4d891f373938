package node

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

const (
	// defaultServiceAccount is the account a pod runs as unless it names another.
	defaultServiceAccount = "default"
	// rootCAConfigMap is the ConfigMap published in every namespace with the cluster's
	// CA, which the kube-api-access-* volume of each pod projects as ca.crt.
	rootCAConfigMap = "kube-root-ca.crt"
)

// namespaceChanged queues a namespace that is not being deleted.
func (a *Agent) namespaceChanged(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
		a.namespaces.add(ns.Name)
	}
}

// syncNamespace creates the "default" ServiceAccount and the kube-root-ca.crt ConfigMap
// of a namespace, the jobs of kube-controller-manager's service-account and root-CA
// publisher controllers. The ServiceAccount admission plugin refuses pods until the
// account exists: tests call WaitServiceAccount after creating a namespace.
func (a *Agent) syncNamespace(ctx context.Context, ns string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultServiceAccount}}
	_, err := a.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if gone(err) {
		return nil
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/%s: %w", ns, defaultServiceAccount, err)
	}

	configMaps := a.client.CoreV1().ConfigMaps(ns)
	want := map[string]string{"ca.crt": string(a.caPEM)}
	cm, err := configMaps.Get(ctx, rootCAConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: rootCAConfigMap}, Data: want}
		_, err = configMaps.Create(ctx, cm, metav1.CreateOptions{})
	case err == nil && cm.Data["ca.crt"] != want["ca.crt"]:
		cm.Data = want
		_, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if gone(err) || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("publish %s in namespace %s: %w", rootCAConfigMap, ns, err)
	}
	return nil
}

// gone reports an error that says the namespace is going or gone.
func gone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// WaitServiceAccount waits until the "default" ServiceAccount of namespace exists, so
// that pods may be created there; the agent creates it shortly after the namespace.
func (a *Agent) WaitServiceAccount(ctx context.Context, namespace string) error {
	accounts := a.client.CoreV1().ServiceAccounts(namespace)
	selector := fields.OneTermEqualSelector("metadata.name", defaultServiceAccount).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return accounts.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return accounts.Watch(ctx, opts)
		},
	}
	exists := func(store cache.Store) (bool, error) {
		_, ok, err := store.GetByKey(namespace + "/" + defaultServiceAccount)
		return ok, err
	}
	added := func(ev watch.Event) (bool, error) { return ev.Type == watch.Added, nil }
	if _, err := watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, exists, added); err != nil {
		return fmt.Errorf("wait for service account %s/%s: %w", namespace, defaultServiceAccount, err)
	}
	return nil
}
