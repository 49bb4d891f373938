package node

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// annSelectedNode is how the scheduler tells a provisioner where a claim of a
// WaitForFirstConsumer class is to be used.
const annSelectedNode = "volume.kubernetes.io/selected-node"

// needsScheduling reports whether the default scheduler would place pod.
func needsScheduling(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == corev1.DefaultSchedulerName) &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// schedule binds the pod named by key to this node once its claims are bound. Node
// selectors, affinity, taints and resources are not considered: there is one node.
func (a *Agent) schedule(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) || err == nil && !needsScheduling(pod) {
		return nil
	}
	if err != nil {
		return err
	}
	if msg, err := a.claimsReady(ctx, pod); err != nil {
		return err
	} else if msg != "" {
		// Claim events queue the pod again.
		return a.markUnschedulable(ctx, pod, msg)
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.o.NodeName},
	}
	err = a.client.CoreV1().Pods(ns).Bind(ctx, binding, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or bound meanwhile
	}
	if err != nil {
		return fmt.Errorf("bind pod %s to node %s: %w", key, a.o.NodeName, err)
	}
	return nil
}

// claimsReady returns why the pod's claims keep it from a node, or "" when they are all
// bound. A claim of a WaitForFirstConsumer class is given this node, as the scheduler
// does, so that it gets provisioned.
func (a *Agent) claimsReady(ctx context.Context, pod *corev1.Pod) (string, error) {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		claim := v.PersistentVolumeClaim.ClaimName
		pvc, err := a.pvcs.PersistentVolumeClaims(pod.Namespace).Get(claim)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("persistentvolumeclaim %q not found", claim), nil
		}
		if err != nil {
			return "", err
		}
		if pvc.DeletionTimestamp != nil {
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", claim), nil
		}
		if pvc.Status.Phase == corev1.ClaimBound {
			continue
		}
		class, _ := a.classes.Get(claimClass(pvc))
		if class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer &&
			pvc.Annotations[annSelectedNode] != a.o.NodeName {
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annSelectedNode: a.o.NodeName}}})
			_, err := a.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Patch(ctx, claim, types.MergePatchType, patch, metav1.PatchOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("select node for claim %s/%s: %w", pod.Namespace, claim, err)
			}
		}
		return "pod has unbound immediate PersistentVolumeClaims", nil
	}
	return "", nil
}

// markUnschedulable sets the pod's PodScheduled condition to False with msg, as the
// scheduler does.
func (a *Agent) markUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	cond := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now(),
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
	if err != nil {
		return err
	}
	_, err = a.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark pod %s/%s unschedulable: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// rescheduleClaimUsers queues the unscheduled pods of namespace ns that use claim.
func (a *Agent) rescheduleClaimUsers(ns, claim string) {
	pods, _ := a.pods.Pods(ns).List(labels.Everything())
	for _, pod := range pods {
		if needsScheduling(pod) && usesClaim(pod, claim) {
			a.scheduler.add(ns + "/" + pod.Name)
		}
	}
}

// usesClaim reports whether pod mounts the claim of its namespace.
func usesClaim(pod *corev1.Pod, claim string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}
