package kube

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// cleanup deletes every object of the migration in both clusters, by its label, and
// waits until its pods are gone. It runs even when ctx is cancelled (with its own
// deadline): a migration stopped by Ctrl-C must not leave pods behind. Target claims
// carry no migration label and stay.
func (m *migration) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	m.rep.Step("cleaning up")
	sel := metav1.ListOptions{LabelSelector: selector(m.spec.ID)}
	var targets []string
	for _, rx := range m.plan.Receivers {
		targets = append(targets, rx.Namespace)
	}
	for _, side := range []struct {
		c   *Cluster
		nss []string
	}{{m.spec.Source, m.sourceNamespaces()}, {m.spec.Target, targets}} {
		for _, ns := range side.nss {
			m.deleteAll(ctx, side.c, ns, sel)
		}
	}
}

// removeLeftovers deletes objects of this migration's ID in the namespaces of its
// volumes, before anything is created. A fresh ID finds none.
func (m *migration) removeLeftovers(ctx context.Context) {
	sel := metav1.ListOptions{LabelSelector: selector(m.spec.ID)}
	var src, dst []string
	for _, v := range m.spec.Volumes {
		if !slices.Contains(src, v.Namespace) {
			src = append(src, v.Namespace)
		}
		if !slices.Contains(dst, v.targetNamespace()) {
			dst = append(dst, v.targetNamespace())
		}
	}
	for _, ns := range src {
		if pods, err := m.spec.Source.Client.CoreV1().Pods(ns).List(ctx, sel); err == nil && len(pods.Items) > 0 {
			m.rep.Step(fmt.Sprintf("removing what an earlier run of %s left in %s on %s", m.spec.ID, ns, m.spec.Source.Name))
		}
		m.deleteAll(ctx, m.spec.Source, ns, sel)
	}
	for _, ns := range dst {
		m.deleteAll(ctx, m.spec.Target, ns, sel)
	}
}

// deleteAll deletes the migration's objects of every kind in one namespace.
func (m *migration) deleteAll(ctx context.Context, c *Cluster, ns string, sel metav1.ListOptions) {
	cs := c.Client
	now := metav1.DeleteOptions{GracePeriodSeconds: new(int64(5))}
	deletes := []struct {
		kind string
		del  func() error
	}{
		{"pods", func() error { return cs.CoreV1().Pods(ns).DeleteCollection(ctx, now, sel) }},
		{"services", func() error {
			// Services have no DeleteCollection.
			list, err := cs.CoreV1().Services(ns).List(ctx, sel)
			if err != nil {
				return err
			}
			for _, svc := range list.Items {
				if err := cs.CoreV1().Services(ns).Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
			return nil
		}},
		{"ingresses", func() error {
			return cs.NetworkingV1().Ingresses(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}},
		{"secrets", func() error { return cs.CoreV1().Secrets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel) }},
		{"configmaps", func() error { return cs.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel) }},
		{"serviceaccounts", func() error {
			return cs.CoreV1().ServiceAccounts(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}},
		{"roles", func() error { return cs.RbacV1().Roles(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel) }},
		{"rolebindings", func() error { return cs.RbacV1().RoleBindings(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel) }},
	}
	if c == m.spec.Target && m.spec.Endpoint == v1alpha1.EndpointRoute {
		deletes = append(deletes, struct {
			kind string
			del  func() error
		}{"routes", func() error {
			return c.Dynamic.Resource(RouteGVR).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		}})
	}
	for _, d := range deletes {
		if err := d.del(); err != nil {
			m.rep.Step(fmt.Sprintf("cleanup: delete %s in %s on %s: %v", d.kind, ns, c.Name, err))
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, sel)
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		m.rep.Step(fmt.Sprintf("cleanup: pods of migration %s still in %s on %s", m.spec.ID, ns, c.Name))
	}
}
