package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// runState is what a migration has said so far, to be written into the DVM's status.
type runState struct {
	Phase      v1alpha1.Phase // "" leaves the phase as it is
	Message    string
	Volumes    []v1alpha1.VolumeProgress // nil leaves the volumes as they are
	Completed  *metav1.Time
	Conditions []metav1.Condition // set over the existing ones
}

// applyState writes s into a DVM's status, with the totals and the percentage.
func applyState(st *v1alpha1.DirectVolumeMigrationStatus, s runState) {
	if s.Phase != "" {
		st.Phase = s.Phase
	}
	if s.Message != "" {
		st.Message = s.Message
	}
	if s.Volumes != nil {
		st.Volumes = s.Volumes
		st.TotalBytes, st.TransferredBytes = 0, 0
		for _, v := range s.Volumes {
			st.TotalBytes += v.TotalBytes
			st.TransferredBytes += kube.BytesTransferred(v) // as ferry migrate's bars: what its rate and ETA measure
		}
	}
	if st.TotalBytes > 0 {
		st.Progress = fmt.Sprintf("%d%%", min(100, st.TransferredBytes*100/st.TotalBytes))
	}
	if st.Phase == v1alpha1.PhaseSucceeded {
		st.Progress = "100%"
	}
	if s.Completed != nil {
		st.CompletionTimestamp = s.Completed
	}
	for _, c := range s.Conditions {
		meta.SetStatusCondition(&st.Conditions, c)
	}
}

// reporter is the kube.Reporter of one DVM's migration: it keeps the latest state,
// writes it into the status at most once per interval (always the last one), and
// records Events.
type reporter struct {
	r     *DirectVolumeMigrationReconciler
	dvm   *v1alpha1.DirectVolumeMigration // for Events: name, namespace, UID
	key   types.NamespacedName
	gen   int64
	scrub scrubber

	mu    sync.Mutex
	state runState
	bytes int64 // copied bytes already counted in the metrics
	sent  int64 // sent bytes already counted

	throttle *throttle
}

var _ kube.Reporter = (*reporter)(nil)

func (r *DirectVolumeMigrationReconciler) newReporter(dvm *v1alpha1.DirectVolumeMigration, proxies []string) *reporter {
	rep := &reporter{r: r, dvm: dvm.DeepCopy(), key: client.ObjectKeyFromObject(dvm), gen: dvm.Generation, scrub: newScrubber(proxies)}
	for _, v := range dvm.Status.Volumes {
		rep.bytes += v.Bytes
		rep.sent += v.SentBytes
	}
	every := r.StatusInterval
	if every == 0 {
		every = 2 * time.Second
	}
	rep.throttle = newThrottle(every, rep.write)
	return rep
}

// Step records what the migration does now, as the status message and an Event.
func (rep *reporter) Step(msg string) {
	msg = truncate(rep.scrub.clean(msg), maxMessage)
	rep.mu.Lock()
	rep.state.Message = msg
	rep.mu.Unlock()
	rep.r.event(rep.dvm, corev1.EventTypeNormal, "Step", msg)
	rep.throttle.Kick()
}

// Progress records every volume's state.
func (rep *reporter) Progress(volumes []v1alpha1.VolumeProgress) {
	vols := make([]v1alpha1.VolumeProgress, len(volumes))
	var copied, sent int64
	for i, v := range volumes {
		v.Message = truncate(rep.scrub.clean(v.Message), maxEventNote)
		vols[i] = v
		copied += v.Bytes
		sent += v.SentBytes
	}
	rep.mu.Lock()
	rep.state.Volumes = vols
	if copied > rep.bytes {
		bytesCopied.Add(float64(copied - rep.bytes))
		rep.bytes = copied
	}
	if sent > rep.sent {
		bytesSent.Add(float64(sent - rep.sent))
		rep.sent = sent
	}
	rep.mu.Unlock()
	rep.throttle.Kick()
}

// finish records the outcome and writes the last status. A migration cancelled because
// the controller stops stays Running: the next controller resumes it.
func (rep *reporter) finish(ctx context.Context, res *kube.Result, err error) {
	if res != nil && len(res.Volumes) > 0 {
		rep.Progress(res.Volumes)
	}
	now := metav1.Now()
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: rep.gen}
	}
	rep.mu.Lock()
	s := &rep.state
	switch {
	case err == nil:
		s.Phase, s.Completed = v1alpha1.PhaseSucceeded, &now
		var copied, sent int64
		for _, v := range s.Volumes {
			copied, sent = copied+v.Bytes, sent+v.SentBytes
		}
		noun := "volumes"
		if len(s.Volumes) == 1 {
			noun = "volume"
		}
		s.Message = fmt.Sprintf("copied %d %s: %d bytes, of which %d travelled", len(s.Volumes), noun, copied, sent)
		s.Conditions = []metav1.Condition{
			cond(ConditionRunning, metav1.ConditionFalse, ReasonCompleted, s.Message),
			cond(ConditionSucceeded, metav1.ConditionTrue, ReasonCompleted, s.Message),
		}
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), errDeleted):
		s.Message = "the controller stopped: the migration resumes when it runs again"
	default:
		msg := err.Error()
		if ctx.Err() != nil {
			msg = fmt.Sprintf("%v: %v", context.Cause(ctx), err)
		}
		s.Phase, s.Completed = v1alpha1.PhaseFailed, &now
		s.Message = truncate(rep.scrub.clean(msg), maxMessage)
		s.Conditions = []metav1.Condition{
			cond(ConditionRunning, metav1.ConditionFalse, ReasonMigrationFailed, s.Message),
			cond(ConditionFailed, metav1.ConditionTrue, ReasonMigrationFailed, s.Message),
		}
	}
	phase, msg := s.Phase, s.Message
	rep.mu.Unlock()
	switch phase {
	case v1alpha1.PhaseSucceeded:
		rep.r.event(rep.dvm, corev1.EventTypeNormal, "Succeeded", msg)
	case v1alpha1.PhaseFailed:
		rep.r.event(rep.dvm, corev1.EventTypeWarning, "Failed", msg)
	}
	if phase != "" {
		migrations.WithLabelValues(string(phase)).Inc()
	}
	rep.throttle.Kick()
	rep.throttle.Close()
}

// write patches the DVM's status with the latest state.
func (rep *reporter) write() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep.mu.Lock()
	s := rep.state
	s.Volumes = append([]v1alpha1.VolumeProgress(nil), s.Volumes...)
	if rep.state.Volumes == nil {
		s.Volumes = nil
	}
	rep.mu.Unlock()
	var dvm v1alpha1.DirectVolumeMigration
	err := rep.r.Client.Get(ctx, rep.key, &dvm)
	if err == nil && dvm.UID != rep.dvm.UID {
		return // deleted and created again: not ours
	}
	if err == nil {
		orig := dvm.DeepCopy()
		applyState(&dvm.Status, s)
		err = rep.r.Client.Status().Patch(ctx, &dvm, client.MergeFrom(orig))
	}
	if err != nil && !apierrors.IsNotFound(err) {
		ctrllog.FromContext(ctx).Error(err, "update the status of a DirectVolumeMigration", "dvm", rep.key)
	}
}
