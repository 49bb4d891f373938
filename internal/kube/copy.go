package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// volumeRun follows the sender pods of one volume.
type volumeRun struct {
	plan    SenderPlan
	rx      ReceiverPlan
	attempt int       // number of the current pod
	pod     string    // its name; "" while waiting to start the next one
	startAt time.Time // when to start the next pod
	created time.Time
	status  v1alpha1.VolumeProgress
}

func (r *volumeRun) finished() bool {
	return r.status.Phase == v1alpha1.PhaseSucceeded || r.status.Phase == v1alpha1.PhaseFailed
}

// copy runs a sender per volume until every volume is copied or has failed for good,
// reporting progress about once a second.
func (m *migration) copy(ctx context.Context) ([]v1alpha1.VolumeProgress, error) {
	var runs []*volumeRun
	for _, s := range m.plan.Senders {
		r := &volumeRun{plan: s, rx: m.receiverFor(s), status: v1alpha1.VolumeProgress{
			PVCRef:     v1alpha1.PVCReference{Namespace: s.Volume.Namespace, Name: s.Volume.Name},
			TargetName: s.Target, Phase: v1alpha1.PhasePending, TotalBytes: s.Size,
		}}
		runs = append(runs, r)
	}
	m.rep.Step(fmt.Sprintf("copying %d volumes", len(runs)))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		done := true
		statuses := make([]v1alpha1.VolumeProgress, len(runs))
		for i, r := range runs {
			if !r.finished() {
				m.step(ctx, r)
			}
			done = done && r.finished()
			statuses[i] = r.status
		}
		m.rep.Progress(statuses)
		if done {
			return statuses, failures(runs)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return statuses, ctx.Err()
		}
	}
}

func failures(runs []*volumeRun) error {
	var errs []error
	for _, r := range runs {
		if r.status.Phase == v1alpha1.PhaseFailed {
			errs = append(errs, fmt.Errorf("volume %s/%s: %s", r.status.PVCRef.Namespace, r.status.PVCRef.Name, r.status.Message))
		}
	}
	return errors.Join(errs...)
}

// step advances one volume: starts its sender when due, reads its progress, and
// handles the end of its pod.
func (m *migration) step(ctx context.Context, r *volumeRun) {
	pods := m.spec.Source.Client.CoreV1().Pods(r.plan.Volume.Namespace)
	if r.pod == "" {
		if time.Now().Before(r.startAt) {
			return
		}
		pod := m.senderPod(r.plan, r.rx, r.attempt)
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			r.fail(fmt.Sprintf("create sender pod %s: %v", pod.Name, err))
			return
		}
		r.pod, r.created = pod.Name, time.Now()
		r.status.Phase = v1alpha1.PhaseRunning
		return
	}
	// The pod first, then its report: a sender writes its final report before it exits,
	// so a pod seen Succeeded has left its last word in the ConfigMap already.
	p, err := pods.Get(ctx, r.pod, metav1.GetOptions{})
	m.readProgress(ctx, r)
	switch {
	case apierrors.IsNotFound(err):
		m.retry(ctx, r, "its pod "+r.pod+" was deleted")
	case err != nil:
		r.status.Message = fmt.Sprintf("read sender pod %s: %v", r.pod, err) // transient: try again
	case p.Status.Phase == corev1.PodSucceeded:
		if r.status.Verified {
			r.status.Phase, r.status.Message = v1alpha1.PhaseSucceeded, "copied and verified"
		} else {
			r.fail("the sender ended without a verified copy: " + r.status.Message)
		}
	case p.Status.Phase == corev1.PodFailed:
		m.retry(ctx, r, fmt.Sprintf("sender pod %s failed: %s", r.pod, terminationMessage(p)))
	case p.Status.Phase == corev1.PodPending && time.Since(r.created) > m.spec.ReadyTimeout:
		r.fail(fmt.Sprintf("sender pod %s did not start in %v: %s", r.pod, m.spec.ReadyTimeout, podTrouble(p)))
	}
}

// retry replaces a failed sender after a backoff, or gives up at the backoff limit.
func (m *migration) retry(ctx context.Context, r *volumeRun, why string) {
	if r.attempt >= m.spec.BackoffLimit {
		r.fail(fmt.Sprintf("%s; gave up after %d attempts", why, r.attempt+1))
		return
	}
	m.spec.Source.Client.CoreV1().Pods(r.plan.Volume.Namespace).Delete(ctx, r.pod, metav1.DeleteOptions{})
	wait := min(time.Duration(1<<min(r.attempt, 5))*time.Second, 30*time.Second)
	m.rep.Step(fmt.Sprintf("volume %s/%s: %s; resuming in %v", r.plan.Volume.Namespace, r.plan.Volume.Name, why, wait))
	r.attempt++
	r.status.Retries++
	r.status.Message = why
	r.pod, r.startAt = "", time.Now().Add(wait)
}

func (r *volumeRun) fail(msg string) {
	r.status.Phase, r.status.Message = v1alpha1.PhaseFailed, msg
}

// readProgress copies the sender's last report into the volume's status.
func (m *migration) readProgress(ctx context.Context, r *volumeRun) {
	cm, err := m.spec.Source.Client.CoreV1().ConfigMaps(r.plan.Volume.Namespace).Get(ctx, progressName(m.spec.ID, r.plan.Volume), metav1.GetOptions{})
	if err != nil {
		return
	}
	rep, err := readReport(cm)
	if err != nil || rep == nil {
		return
	}
	rep.applyTo(&r.status)
}

// receiverFor is the receiver of a volume's target namespace.
func (m *migration) receiverFor(s SenderPlan) ReceiverPlan {
	for _, rx := range m.plan.Receivers {
		if rx.Namespace == s.Volume.targetNamespace() {
			return rx
		}
	}
	return ReceiverPlan{}
}
