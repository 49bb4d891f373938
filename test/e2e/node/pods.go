package node

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podChanged routes a pod event: unscheduled pods to the scheduler, this node's pods to
// their workers, and claims a finishing pod may release to the storage queue.
func (a *Agent) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	switch {
	case needsScheduling(pod):
		a.scheduler.add(pod.Namespace + "/" + pod.Name)
	case pod.Spec.NodeName == a.o.NodeName:
		a.dispatch(pod)
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		a.queueClaimsOf(pod)
	}
}

// podDeleted stops the worker of a pod that is gone from the API server (deleted with
// no grace, or after its worker finished).
func (a *Agent) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.queueClaimsOf(pod)
	a.mu.Lock()
	w := a.workers[pod.UID]
	if w != nil {
		w.gone = true
		if w.finished() {
			delete(a.workers, pod.UID)
		}
	}
	a.mu.Unlock()
	if w != nil {
		w.kill(gracePeriod(pod), false)
	}
}

func (a *Agent) queueClaimsOf(pod *corev1.Pod) {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			a.storage.add("pvc/" + pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName)
		}
	}
}

// dispatch hands the latest version of one of this node's pods to its worker, starting
// one for a new pod.
func (a *Agent) dispatch(pod *corev1.Pod) {
	a.mu.Lock()
	w := a.workers[pod.UID]
	if w == nil {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if a.stopping || terminal && pod.DeletionTimestamp == nil {
			a.mu.Unlock()
			return
		}
		if pod.DeletionTimestamp != nil {
			// Never started here, or finished before the agent started: nothing to kill.
			a.mu.Unlock()
			a.goRun(func(ctx context.Context) { a.deletePod(ctx, pod) })
			return
		}
		w = newPodWorker(a, pod)
		a.workers[pod.UID] = w
		a.goRun(func(context.Context) { w.run() })
	}
	a.mu.Unlock()
	w.update(pod)
}

// deletePod removes a pod whose processes are gone for good: the kubelet's last step
// (grace period 0, precondition on the UID).
func (a *Agent) deletePod(ctx context.Context, pod *corev1.Pod) {
	zero := int64(0)
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		a.logf("node: delete pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// gracePeriod is how long a pod's processes get between SIGTERM and SIGKILL.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// kickNamespace wakes the workers of a namespace's pods that wait for an object there.
func (a *Agent) kickNamespace(ns string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		if w.namespace == ns {
			w.kick()
		}
	}
}

func (a *Agent) kickNamespaceOf(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		a.kickNamespace(m.GetNamespace())
	}
}

// podWorker runs one pod: its address and volumes, then its init containers in order,
// then its containers side by side, each restarted as the restart policy says, until
// they are done or the pod is killed.
type podWorker struct {
	a               *Agent
	uid             types.UID
	namespace, name string
	dir             string // per-pod files: volumes, termination messages
	logDir          string

	mu       sync.Mutex
	pod      *corev1.Pod // the latest version seen
	ip       netip.Addr
	ipShared bool // ip is the node's (hostNetwork), not the pod's own
	started  metav1.Time
	sandbox  string                // "" when the address and volumes are ready, else why not
	volumes  map[string]hostVolume // by volume name, once ready
	init     []*container          // in spec order
	main     []*container          // in spec order
	initDone bool                  // every init container succeeded
	terminal bool                  // the containers are done for good
	conds    map[corev1.PodConditionType]corev1.PodCondition
	changed  chan struct{} // closed and replaced by kick
	killed   chan struct{} // closed by the first kill
	deadline time.Time     // of the grace period, once killed
	remove   bool          // delete the pod object once its processes are gone
	gone     bool          // the pod object is gone (guarded by a.mu)
	done     chan struct{} // closed when run returns

	writeMu sync.Mutex        // one status write at a time
	written *corev1.PodStatus // the status last written
}

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, uid: pod.UID, namespace: pod.Namespace, name: pod.Name, pod: pod,
		dir:     filepath.Join(a.o.Dir, "pods", string(pod.UID)),
		logDir:  filepath.Join(a.o.Dir, "logs", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)),
		started: metav1.Now(),
		sandbox: "waiting for the pod's address and volumes",
		conds:   map[corev1.PodConditionType]corev1.PodCondition{},
		changed: make(chan struct{}),
		killed:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, c := range pod.Spec.InitContainers {
		w.init = append(w.init, newContainer(c, true))
	}
	for _, c := range pod.Spec.Containers {
		w.main = append(w.main, newContainer(c, false))
		if len(w.init) > 0 {
			w.main[len(w.main)-1].state.Waiting.Reason = "PodInitializing"
		}
	}
	return w
}

// update records the latest pod; a deletion timestamp starts the kill.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		w.kill(gracePeriod(pod), true)
		if w.finished() {
			w.a.goRun(func(ctx context.Context) { w.a.deletePod(ctx, pod) })
		}
	}
}

// kill asks the worker to stop the pod's processes within grace; a later call may
// shorten the grace period. remove asks for the pod object to be deleted afterwards.
func (w *podWorker) kill(grace time.Duration, remove bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	deadline := time.Now().Add(grace)
	select {
	case <-w.killed:
		if deadline.Before(w.deadline) {
			w.deadline = deadline
		}
	default:
		w.deadline = deadline
		close(w.killed)
	}
	w.remove = w.remove || remove
	w.kickLocked()
}

func (w *podWorker) isKilled() bool {
	select {
	case <-w.killed:
		return true
	default:
		return false
	}
}

func (w *podWorker) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// kick wakes whatever in the worker waits for a change.
func (w *podWorker) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kickLocked()
}

func (w *podWorker) kickLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// wait sleeps for d, or until a kick or a kill; it reports false when killed.
func (w *podWorker) wait(d time.Duration) bool {
	w.mu.Lock()
	changed := w.changed
	w.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.killed:
		return false
	case <-changed:
	case <-t.C:
	}
	return !w.isKilled()
}

// sleep sleeps for d unless the pod is killed first; it reports false when killed.
func (w *podWorker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.killed:
		return false
	case <-t.C:
		return true
	}
}

func (w *podWorker) latest() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

// run is the pod's life on the node.
func (w *podWorker) run() {
	defer func() {
		w.a.mu.Lock()
		close(w.done)
		if w.gone {
			delete(w.a.workers, w.uid)
		}
		w.a.mu.Unlock()
	}()
	if w.setup() && w.runInit() {
		w.runMain()
	}
	w.teardown()
}

// setup gives the pod its address and volumes, retrying until they are ready or the pod
// is killed.
func (w *podWorker) setup() bool {
	for backoff := initialBackoff; ; backoff = min(2*backoff, maxBackoff) {
		err := w.prepareSandbox()
		if err == nil {
			w.setSandbox("")
			w.sync()
			return true
		}
		w.setSandbox(err.Error())
		w.sync()
		if !w.wait(backoff) {
			return false
		}
	}
}

// prepareSandbox adds the pod's address and writes its volumes.
func (w *podWorker) prepareSandbox() error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("create pod folder: %w", err)
	}
	w.mu.Lock()
	haveIP := w.ip.IsValid()
	w.mu.Unlock()
	if !haveIP && w.latest().Spec.HostNetwork {
		// The node's own address; it is not the worker's to remove.
		w.mu.Lock()
		w.ip, w.ipShared = netip.MustParseAddr(w.a.o.NodeIP), true
		w.mu.Unlock()
	} else if !haveIP {
		addr, err := w.a.ipam.allocate()
		if err != nil {
			return err
		}
		if err := w.a.addPodIP(addr); err != nil {
			w.a.ipam.release(addr)
			return err
		}
		w.mu.Lock()
		w.ip = addr
		w.mu.Unlock()
	}
	volumes, err := w.prepareVolumes(w.a.ctx, w.latest())
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.volumes = volumes
	w.mu.Unlock()
	return nil
}

func (w *podWorker) setSandbox(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sandbox = msg
}

// runInit runs the init containers one after the other; it reports whether they all
// succeeded.
func (w *podWorker) runInit() bool {
	for _, c := range w.init {
		if !w.runContainer(c) {
			return false
		}
	}
	w.mu.Lock()
	w.initDone = true
	w.mu.Unlock()
	return true
}

// runMain runs the containers side by side until each is done for good.
func (w *podWorker) runMain() {
	var wg sync.WaitGroup
	for _, c := range w.main {
		wg.Go(func() { w.runContainer(c) })
	}
	wg.Wait()
}

// teardown frees the address, writes the final status and, when the pod was deleted,
// deletes its object.
func (w *podWorker) teardown() {
	w.mu.Lock()
	addr := w.ip
	if w.ipShared {
		addr = netip.Addr{}
	}
	killed := w.isKilled()
	w.terminal = true
	w.mu.Unlock()
	if addr.IsValid() {
		if err := w.a.delPodIP(addr); err != nil {
			w.a.logf("node: pod %s/%s: %v", w.namespace, w.name, err)
		}
		w.a.ipam.release(addr)
	}
	if !killed {
		w.sync()
		return
	}
	w.mu.Lock()
	remove := w.remove
	pod := w.pod
	w.mu.Unlock()
	if remove {
		w.a.deletePod(w.a.ctx, pod)
	}
}
