package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sync writes the pod's status when it changed since the last write. Writes are JSON
// merge patches with the pod's UID as precondition, so they never conflict with
// writers of other fields. Once the pod is killed nothing more is written: it is being
// deleted, or the test is ending.
func (w *podWorker) sync() {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if w.isKilled() {
		return
	}
	status := w.status()
	if w.written != nil && apiequality.Semantic.DeepEqual(*w.written, status) {
		return
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": w.uid},
		"status":   status,
	})
	if err != nil {
		w.a.logf("node: pod %s/%s: encode status: %v", w.namespace, w.name, err)
		return
	}
	pods := w.a.client.CoreV1().Pods(w.namespace)
	for attempt, delay := 1, 100*time.Millisecond; ; attempt, delay = attempt+1, 2*delay {
		_, err = pods.Patch(w.a.ctx, w.name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		if err == nil {
			w.written = &status
			return
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || w.a.ctx.Err() != nil {
			return // gone, or replaced by a pod with another UID
		}
		if attempt == 5 {
			w.a.logf("node: pod %s/%s: write status: %v", w.namespace, w.name, err)
			return
		}
		select {
		case <-w.a.ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// status assembles the pod's status from the worker's state.
func (w *podWorker) status() corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := corev1.PodStatus{
		HostIP:    w.a.o.NodeIP,
		HostIPs:   []corev1.HostIP{{IP: w.a.o.NodeIP}},
		StartTime: &w.started,
	}
	if w.ip.IsValid() {
		s.PodIP = w.ip.String()
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	}
	for _, c := range w.init {
		s.InitContainerStatuses = append(s.InitContainerStatuses, w.containerStatus(c))
	}
	for _, c := range w.main {
		s.ContainerStatuses = append(s.ContainerStatuses, w.containerStatus(c))
	}
	policy := w.pod.Spec.RestartPolicy
	if w.initDone {
		s.Phase = podPhase(policy, s.ContainerStatuses)
	} else {
		s.Phase = corev1.PodPending
		if w.terminal && policy == corev1.RestartPolicyNever && initFailed(s.InitContainerStatuses) {
			s.Phase = corev1.PodFailed
		}
	}
	done := s.Phase == corev1.PodSucceeded || s.Phase == corev1.PodFailed

	var unready, incomplete []string
	for _, c := range w.main {
		if !c.ready {
			unready = append(unready, c.spec.Name)
		}
	}
	for i, c := range w.init {
		if !w.initDone && (s.InitContainerStatuses[i].State.Terminated == nil || s.InitContainerStatuses[i].State.Terminated.ExitCode != 0) {
			incomplete = append(incomplete, c.spec.Name)
		}
	}
	// Readiness gates are other controllers' conditions; they and PodScheduled are kept
	// as they are (a merge patch replaces the whole list).
	own := map[corev1.PodConditionType]bool{corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true,
		corev1.ContainersReady: true, corev1.PodReady: true}
	var others []corev1.PodCondition
	scheduled := false
	for _, c := range w.pod.Status.Conditions {
		if !own[c.Type] {
			others = append(others, c)
			scheduled = scheduled || c.Type == corev1.PodScheduled
		}
	}
	if !scheduled {
		others = append(others, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
	for _, g := range w.pod.Spec.ReadinessGates {
		i := slices.IndexFunc(others, func(c corev1.PodCondition) bool { return c.Type == g.ConditionType })
		if i < 0 || others[i].Status != corev1.ConditionTrue {
			unready = append(unready, "readiness gate "+string(g.ConditionType))
		}
	}
	containersReady := w.readyCondition(corev1.ContainersReady, slices.DeleteFunc(slices.Clone(unready),
		func(n string) bool { return strings.HasPrefix(n, "readiness gate ") }), done)
	s.Conditions = append([]corev1.PodCondition{
		w.condition(corev1.PodReadyToStartContainers, w.sandbox == "" && !(w.terminal && done), "", ""),
		w.condition(corev1.PodInitialized, w.initDone, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))),
		containersReady,
		w.readyCondition(corev1.PodReady, unready, done),
	}, others...)
	return s
}

// condition returns a condition, keeping its transition time while its status stays.
func (w *podWorker) condition(typ corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
	c := corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue}
	if !ok {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
	}
	if prev, seen := w.conds[typ]; seen && prev.Status == c.Status {
		c.LastTransitionTime = prev.LastTransitionTime
	} else {
		c.LastTransitionTime = metav1.Now()
	}
	w.conds[typ] = c
	return c
}

func (w *podWorker) readyCondition(typ corev1.PodConditionType, unready []string, done bool) corev1.PodCondition {
	if done {
		return w.condition(typ, false, "PodCompleted", "")
	}
	return w.condition(typ, len(unready) == 0, "ContainersNotReady",
		fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " ")))
}

// containerStatus reports one container; waiting containers say why the pod is not
// ready to start them when that is the reason.
func (w *podWorker) containerStatus(c *container) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                c.state,
		LastTerminationState: c.last,
		Ready:                c.ready,
		RestartCount:         c.restarts,
		Image:                c.spec.Image,
		ImageID:              c.imageID,
		ContainerID:          c.containerID,
	}
	started := c.state.Running != nil
	cs.Started = &started
	if wt := c.state.Waiting; wt != nil && wt.Reason == "ContainerCreating" && w.sandbox != "" {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: w.sandbox}}
	}
	return cs
}

// podPhase derives the phase from the containers' states, as the kubelet does.
func podPhase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var running, waiting, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == 0:
		return corev1.PodPending
	case policy == corev1.RestartPolicyAlways:
		return corev1.PodRunning
	case stopped == succeeded:
		return corev1.PodSucceeded
	case policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning // OnFailure: the failed ones restart
}

// initFailed reports an init container that failed.
func initFailed(statuses []corev1.ContainerStatus) bool {
	for _, cs := range statuses {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return true
		}
	}
	return false
}
