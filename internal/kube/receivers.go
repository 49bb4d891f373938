package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startReceivers starts a receiver per target namespace and waits until each is Ready.
func (m *migration) startReceivers(ctx context.Context) error {
	cs := m.spec.Target.Client
	for _, rx := range m.plan.Receivers {
		m.rep.Step(fmt.Sprintf("starting the receiver of %s (%s)", rx.Namespace, strings.Join(rx.Claims, ", ")))
		pod := m.secure(receiverPod(m.spec.ID, rx.Namespace, m.spec.Image, rx.Claims, m.spec.ReceiverResources), m.spec.ReceiverGroups)
		if _, err := cs.CoreV1().Pods(rx.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create receiver pod in %s: %w", rx.Namespace, err)
		}
	}
	for _, rx := range m.plan.Receivers {
		podName := name(m.spec.ID, "rx")
		var last *corev1.Pod
		err := m.wait(ctx, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(rx.Namespace).Get(ctx, podName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = p
			return podReady(p), nil
		})
		if err != nil {
			return fmt.Errorf("receiver %s/%s is not ready: %s: %w", rx.Namespace, podName, podTrouble(last), err)
		}
	}
	return nil
}

// probe runs `ferry probe` on the source, from the first namespace that sends to each
// receiver, through the data-path proxies, and stops on the first broken path.
func (m *migration) probe(ctx context.Context) error {
	for _, rx := range m.plan.Receivers {
		ns := ""
		for _, s := range m.plan.Senders {
			if s.Volume.targetNamespace() == rx.Namespace {
				ns = s.Volume.Namespace
				break
			}
		}
		m.rep.Step(fmt.Sprintf("probing the path from %s on %s to %s", ns, m.spec.Source.Name, rx.Address))
		pod := m.probePod(ns, rx)
		p, err := m.runToEnd(ctx, m.spec.Source, pod)
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return &ProbeError{Namespace: rx.Namespace, Address: rx.Address, Report: terminationMessage(p)}
		}
	}
	return nil
}

// runToEnd creates a pod that runs once and waits until it ends.
func (m *migration) runToEnd(ctx context.Context, c *Cluster, pod *corev1.Pod) (*corev1.Pod, error) {
	pods := c.Client.CoreV1().Pods(pod.Namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s/%s on %s: %w", pod.Namespace, pod.Name, c.Name, err)
	}
	var last *corev1.Pod
	err := m.wait(ctx, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s on %s did not finish: %s: %w", pod.Namespace, pod.Name, c.Name, podTrouble(last), err)
	}
	return last, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podTrouble says why a pod is not where it should be, from its status.
func podTrouble(p *corev1.Pod) string {
	if p == nil {
		return "no such pod"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return fmt.Sprintf("container %s waits: %s: %s", cs.Name, w.Reason, w.Message)
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("container %s exited with %d: %s", cs.Name, t.ExitCode, strings.TrimSpace(t.Message))
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			return fmt.Sprintf("%s: %s", c.Type, c.Message)
		}
	}
	return "phase " + string(p.Status.Phase)
}

// terminationMessage is what the pod's container left: its message, or the end of its
// log when it failed without one.
func terminationMessage(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return strings.TrimSpace(t.Message)
		}
	}
	return ""
}
