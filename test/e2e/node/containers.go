package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Crash backoff: short, so that tests of restarts stay fast.
const (
	initialBackoff = time.Second
	maxBackoff     = 10 * time.Second
	// backoffReset is how long a run must last for the next restart to wait only
	// initialBackoff again.
	backoffReset = 2 * maxBackoff
)

// container is the state of one container of a pod, guarded by its worker's mu.
type container struct {
	spec        corev1.Container
	isInit      bool
	state       corev1.ContainerState
	last        corev1.ContainerState
	restarts    int32
	ready       bool
	imageID     string
	containerID string
}

func newContainer(spec corev1.Container, isInit bool) *container {
	return &container{
		spec: spec, isInit: isInit,
		state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	}
}

// configError is a container that cannot start as specified (a missing Secret key, an
// image the agent does not know): it has a waiting reason of its own.
type configError struct {
	reason string
	err    error
}

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// runContainer runs c until it is done for good or the pod is killed, restarting it as
// the pod's restart policy says; it reports whether its last run succeeded.
func (w *podWorker) runContainer(c *container) bool {
	backoff := initialBackoff
	for {
		if w.isKilled() {
			return false
		}
		run, err := w.prepare(c)
		if err != nil {
			reason := "CreateContainerConfigError"
			if ce := (*configError)(nil); errors.As(err, &ce) {
				reason = ce.reason
			}
			w.setState(c, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}})
			w.sync()
			if !w.wait(backoff) {
				return false
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		began := time.Now()
		code, term := w.runOnce(c, run)
		if w.isKilled() {
			return false
		}
		if time.Since(began) > backoffReset {
			backoff = initialBackoff
		}
		if !restart(w.latest().Spec.RestartPolicy, c, code) {
			w.sync()
			return code == 0
		}
		w.mu.Lock()
		c.last = corev1.ContainerState{Terminated: term}
		c.restarts++
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %v restarting failed container=%s pod=%s_%s(%s)", backoff, c.spec.Name, w.name, w.namespace, w.uid),
		}}
		w.mu.Unlock()
		w.sync()
		if !w.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// restart applies the restart policy to a run of c that exited with code. Init
// containers restart on failure unless the policy is Never.
func restart(policy corev1.RestartPolicy, c *container, code int) bool {
	if c.isInit {
		return code != 0 && policy != corev1.RestartPolicyNever
	}
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// runOnce runs c's process once and records its run; it returns the exit code and the
// terminated state.
func (w *podWorker) runOnce(c *container, run *launch) (int, *corev1.ContainerStateTerminated) {
	p, err := w.a.start(run)
	if err != nil {
		term := &corev1.ContainerStateTerminated{ExitCode: startErrorCode, Reason: "StartError", Message: err.Error(),
			StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
		w.setState(c, corev1.ContainerState{Terminated: term})
		return startErrorCode, term
	}
	w.a.setLogPath(w.namespace, w.name, c.spec.Name, run.logPath)
	started := metav1.NewTime(p.started)
	w.mu.Lock()
	c.containerID = run.containerID
	c.imageID = run.imageID
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	c.ready = c.spec.ReadinessProbe == nil && !c.isInit
	w.mu.Unlock()
	w.sync()
	w.a.logf("node: pod %s/%s container %s started (pid %d, run %d)", w.namespace, w.name, c.spec.Name, p.pid(), c.restarts)

	ctx, stopProbe := context.WithCancel(w.a.ctx)
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		if c.spec.ReadinessProbe != nil && !c.isInit {
			w.probeReadiness(ctx, c, run)
		}
	}()
	code := w.waitProcess(p)
	stopProbe()
	<-probed

	term := &corev1.ContainerStateTerminated{
		ExitCode: int32(code), StartedAt: started, FinishedAt: metav1.NewTime(p.finished),
		ContainerID: run.containerID, Reason: "Completed",
	}
	if code != 0 {
		term.Reason = "Error"
	}
	if code == startErrorCode {
		if msg, ok := startError(run.logPath); ok {
			term.Reason, term.Message = "StartError", msg
		}
	}
	if term.Message == "" {
		term.Message = terminationMessage(c.spec, run, code)
	}
	w.mu.Lock()
	c.state = corev1.ContainerState{Terminated: term}
	c.ready = false
	w.mu.Unlock()
	w.a.logf("node: pod %s/%s container %s exited with %d (%s)", w.namespace, w.name, c.spec.Name, code, term.Reason)
	return code, term
}

// waitProcess waits for p to exit; when the pod is killed it sends SIGTERM, and SIGKILL
// once the grace period is over.
func (w *podWorker) waitProcess(p *process) int {
	select {
	case <-p.done:
		return p.exitCode()
	case <-w.killed:
	}
	p.signal(sigterm)
	for {
		w.mu.Lock()
		deadline, changed := w.deadline, w.changed
		w.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-p.done:
			t.Stop()
			return p.exitCode()
		case <-changed: // the grace period may have been shortened
			t.Stop()
		case <-t.C:
			p.signal(sigkill)
			<-p.done
			return p.exitCode()
		}
	}
}

func (w *podWorker) setState(c *container, s corev1.ContainerState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.state = s
}

// terminationMessage reads what the container wrote to its termination-message file,
// or the end of its log when it failed and its policy says FallbackToLogsOnError.
func terminationMessage(spec corev1.Container, run *launch, code int) string {
	const maxMessage = 4096
	if data, err := os.ReadFile(run.terminationFile); err == nil && len(data) > 0 {
		return string(data[:min(len(data), maxMessage)])
	}
	if code == 0 || spec.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return ""
	}
	return logTail(run.logPath, 80, 2048)
}

// logPathFor is where a run of a container logs: one file per run, kept after the pod.
func (w *podWorker) logPathFor(c *container) string {
	return filepath.Join(w.logDir, c.spec.Name, strconv.Itoa(int(c.restarts))+".log")
}
