package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// preflight checks both clusters and the claims, creates what the spec allows it to
// (target namespaces and claims), and plans the senders and receivers.
func (m *migration) preflight(ctx context.Context) error {
	for _, c := range []*Cluster{m.spec.Source, m.spec.Target} {
		v, err := c.Client.Discovery().ServerVersion()
		if err != nil {
			return fmt.Errorf("API server of %s (%s): %w", c.Name, c.Config.Host, err)
		}
		m.rep.Step(fmt.Sprintf("%s: Kubernetes %s at %s", c.Name, v.GitVersion, c.Config.Host))
	}
	if err := m.checkEndpointKind(); err != nil {
		return err
	}
	for _, v := range m.spec.Volumes {
		s, err := m.checkSource(ctx, v)
		if err != nil {
			return err
		}
		if err := m.ensureTarget(ctx, s.Volume, s.Size); err != nil {
			return err
		}
		m.plan.Senders = append(m.plan.Senders, s)
		m.addClaim(v.targetNamespace(), v.targetName())
	}
	return nil
}

// checkEndpointKind fails when the target cannot serve the chosen endpoint.
func (m *migration) checkEndpointKind() error {
	if m.spec.Endpoint != v1alpha1.EndpointRoute {
		return nil
	}
	ok, err := ServesRoutes(m.spec.Target.Client.Discovery())
	if err == nil && !ok {
		err = errors.New("not found")
	}
	if err != nil {
		return fmt.Errorf("%s does not serve Routes (route.openshift.io/v1: %v): choose --endpoint ingress, loadbalancer or nodeport", m.spec.Target.Name, err)
	}
	return nil
}

// checkSource finds a source claim, bound, with its size and the node that mounts it.
func (m *migration) checkSource(ctx context.Context, v Volume) (SenderPlan, error) {
	what := fmt.Sprintf("source claim %s/%s on %s", v.Namespace, v.Name, m.spec.Source.Name)
	pvc, err := m.spec.Source.Client.CoreV1().PersistentVolumeClaims(v.Namespace).Get(ctx, v.Name, metav1.GetOptions{})
	if err != nil {
		return SenderPlan{}, fmt.Errorf("%s: %w", what, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return SenderPlan{}, fmt.Errorf("%s is %s, not Bound: it holds no data yet", what, pvc.Status.Phase)
	}
	s := SenderPlan{Volume: v, Target: v.targetNamespace() + "/" + v.targetName()}
	if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
		s.Size = q.Value()
	}
	if len(v.TargetAccessModes) == 0 {
		s.Volume.TargetAccessModes = pvc.Spec.AccessModes
	}
	if s.Volume.TargetStorageClass == "" && pvc.Spec.StorageClassName != nil {
		s.Volume.TargetStorageClass = *pvc.Spec.StorageClassName
		if mapped, ok := m.spec.StorageClassMap[s.Volume.TargetStorageClass]; ok {
			s.Volume.TargetStorageClass = mapped
		}
	}
	users, err := m.claimUsers(ctx, v)
	if err != nil {
		return SenderPlan{}, fmt.Errorf("%s: list the pods that use it: %w", what, err)
	}
	if len(users) > 0 {
		if m.spec.Type == v1alpha1.MigrationTypeCutOver {
			return SenderPlan{}, fmt.Errorf("%s is still mounted by running pod %s: stop the application (scale it to zero) before the cutover, or run a stage copy", what, users[0].Name)
		}
		// A claim in use is mounted on its node: the sender must run there (RWO).
		s.Node = users[0].Spec.NodeName
	}
	return s, nil
}

// claimUsers lists the running pods that mount a claim.
func (m *migration) claimUsers(ctx context.Context, v Volume) ([]corev1.Pod, error) {
	pods, err := m.spec.Source.Client.CoreV1().Pods(v.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		if p.Labels[LabelManagedBy] == managedBy {
			continue
		}
		if slices.ContainsFunc(p.Spec.Volumes, func(vol corev1.Volume) bool {
			return vol.PersistentVolumeClaim != nil && vol.PersistentVolumeClaim.ClaimName == v.Name
		}) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ensureTarget makes sure the target namespace and claim exist, creating them when the
// spec allows it.
func (m *migration) ensureTarget(ctx context.Context, v Volume, size int64) error {
	cs := m.spec.Target.Client
	ns, claim := v.targetNamespace(), v.targetName()
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if !m.spec.CreateNamespaces {
			return fmt.Errorf("target namespace %s does not exist on %s: create it, or let ferry (--create-namespaces)", ns, m.spec.Target.Name)
		}
		m.rep.Step("creating namespace " + ns + " on " + m.spec.Target.Name)
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create target namespace %s: %w", ns, err)
		}
	} else if err != nil {
		return fmt.Errorf("target namespace %s: %w", ns, err)
	}
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if !m.spec.CreateTargetClaims {
			return fmt.Errorf("target claim %s/%s does not exist on %s: create it, or let ferry (--create-target-pvcs)", ns, claim, m.spec.Target.Name)
		}
		m.rep.Step(fmt.Sprintf("creating claim %s/%s on %s", ns, claim, m.spec.Target.Name))
		_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, targetClaim(v, size), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create target claim %s/%s: %w", ns, claim, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("target claim %s/%s: %w", ns, claim, err)
	}
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok && q.Value() < size {
		return fmt.Errorf("target claim %s/%s asks for %s, less than the source's %d bytes", ns, claim, q.String(), size)
	}
	return nil
}

// addClaim puts a target claim in its namespace's receiver plan.
func (m *migration) addClaim(namespace, claim string) {
	for i := range m.plan.Receivers {
		if r := &m.plan.Receivers[i]; r.Namespace == namespace {
			if !slices.Contains(r.Claims, claim) {
				r.Claims = append(r.Claims, claim)
			}
			return
		}
	}
	m.plan.Receivers = append(m.plan.Receivers, ReceiverPlan{Namespace: namespace, Claims: []string{claim}})
}
