package kube

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrydvm/ferry/internal/pki"
)

// secrets makes this migration's CA and certificates (the server's names are the
// receivers' addresses) and stores each side's half: the target gets the server key,
// the source the client key, and only the source gets the proxies. The source also
// gets what its senders need to report progress: a ConfigMap per volume and a service
// account that may write those ConfigMaps and nothing else.
func (m *migration) secrets(ctx context.Context) error {
	var names []string
	for _, rx := range m.plan.Receivers {
		names = append(names, rx.Server)
	}
	set, err := pki.Generate(pki.Options{ServerNames: names, Days: 30})
	if err != nil {
		return err
	}
	m.certs = set
	for _, rx := range m.plan.Receivers {
		if err := m.createSecret(ctx, m.spec.Target, rx.Namespace, name(m.spec.ID, "certs"),
			set.Files, pki.CACert, pki.ServerCert, pki.ServerKey); err != nil {
			return err
		}
	}
	proxies := map[string][]byte{}
	for i, p := range m.spec.Proxies {
		proxies[fmt.Sprintf("proxy-%d", i)] = []byte(p)
	}
	for _, ns := range m.sourceNamespaces() {
		if err := m.createSecret(ctx, m.spec.Source, ns, name(m.spec.ID, "certs"), set.Files, pki.CACert, pki.ClientCert, pki.ClientKey); err != nil {
			return err
		}
		if len(proxies) > 0 {
			if err := m.createSecret(ctx, m.spec.Source, ns, name(m.spec.ID, "proxy"), proxies); err != nil {
				return err
			}
		}
		if err := m.reporting(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}

// createSecret stores the given keys of data (all of them when keys is empty).
func (m *migration) createSecret(ctx context.Context, c *Cluster, namespace, secretName string, data map[string][]byte, keys ...string) error {
	s := &corev1.Secret{ObjectMeta: meta(m.spec.ID, "secret", namespace, secretName), Data: map[string][]byte{}}
	for k, v := range data {
		if len(keys) == 0 || slices.Contains(keys, k) {
			s.Data[k] = v
		}
	}
	if _, err := c.Client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Secret %s/%s on %s: %w", namespace, secretName, c.Name, err)
	}
	return nil
}

// reporting creates the progress ConfigMaps of a source namespace's volumes, and the
// senders' service account with a Role limited to those ConfigMaps.
func (m *migration) reporting(ctx context.Context, namespace string) error {
	cs := m.spec.Source.Client
	id := m.spec.ID
	var cms []string
	for _, s := range m.plan.Senders {
		if s.Volume.Namespace != namespace {
			continue
		}
		cm := &corev1.ConfigMap{ObjectMeta: meta(id, "progress", namespace, progressName(id, s.Volume))}
		if _, err := cs.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create progress ConfigMap %s/%s: %w", namespace, cm.Name, err)
		}
		cms = append(cms, cm.Name)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(id, "sender", namespace, name(id, "sender"))}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ServiceAccount %s/%s: %w", namespace, sa.Name, err)
	}
	role := &rbacv1.Role{
		ObjectMeta: meta(id, "sender", namespace, name(id, "sender")),
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"},
			Verbs: []string{"get", "update", "patch"}, ResourceNames: cms,
		}},
	}
	if _, err := cs.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Role %s/%s: %w", namespace, role.Name, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: meta(id, "sender", namespace, name(id, "sender")),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}},
	}
	if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create RoleBinding %s/%s: %w", namespace, rb.Name, err)
	}
	return nil
}

// sourceNamespaces are the namespaces of the source claims, in order.
func (m *migration) sourceNamespaces() []string {
	var out []string
	for _, s := range m.plan.Senders {
		if !slices.Contains(out, s.Volume.Namespace) {
			out = append(out, s.Volume.Namespace)
		}
	}
	return out
}
