package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// fakeRunner stands for kube.Migrate: it reports a step and half of one volume, then
// waits for the test to say how the migration ends.
type fakeRunner struct {
	specs   chan kube.Spec
	release chan error
	ctxErr  chan error // the cause of the cancellation, when cancelled
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{specs: make(chan kube.Spec, 10), release: make(chan error), ctxErr: make(chan error, 10)}
}

func volumes(done bool) []v1alpha1.VolumeProgress {
	db := v1alpha1.VolumeProgress{PVCRef: v1alpha1.PVCReference{Name: "db", Namespace: "shop"}, TargetName: "db", Phase: v1alpha1.PhaseRunning, Bytes: 50, TotalBytes: 100, Files: 1, TotalFiles: 2}
	up := v1alpha1.VolumeProgress{PVCRef: v1alpha1.PVCReference{Name: "uploads", Namespace: "shop"}, TargetName: "uploads-v2", Phase: v1alpha1.PhasePending, TotalBytes: 100}
	if done {
		db.Phase, db.Bytes, up.Phase, up.Bytes = v1alpha1.PhaseSucceeded, 100, v1alpha1.PhaseSucceeded, 100
	}
	return []v1alpha1.VolumeProgress{db, up}
}

func (f *fakeRunner) migrate(ctx context.Context, spec kube.Spec, rep kube.Reporter) (*kube.Result, error) {
	f.specs <- spec
	rep.Step("creating the receiver in shop")
	for range 20 { // many reports in a short time: the status is written far fewer times
		rep.Progress(volumes(false))
	}
	select {
	case err := <-f.release:
		if err != nil {
			return &kube.Result{Volumes: volumes(false)}, err
		}
		return &kube.Result{Volumes: volumes(true)}, nil
	case <-ctx.Done():
		f.ctxErr <- context.Cause(ctx)
		return nil, ctx.Err()
	}
}

func (f *fakeRunner) spec(t *testing.T) kube.Spec {
	t.Helper()
	select {
	case s := <-f.specs:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the migration did not start")
		return kube.Spec{}
	}
}

func reconcileDVM(t *testing.T, r *DirectVolumeMigrationReconciler, dvm *v1alpha1.DirectVolumeMigration) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(dvm)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func condition(d *v1alpha1.DirectVolumeMigration, typ string) *metav1.Condition {
	return meta.FindStatusCondition(d.Status.Conditions, typ)
}

func TestDVMRunsToSuccess(t *testing.T) {
	f := newFixture(t, migrationController(t, "  stunnel_tcp_proxy: "+proxyURL+"\n"))
	run := newFakeRunner()
	r := f.reconciler(run.migrate)
	reconcileDVM(t, r, f.dvm)
	spec := run.spec(t)
	if spec.Source == nil || spec.Source.Config.Host != "https://api.source.example.com:6443" || spec.Source.Config.BearerToken != token {
		t.Errorf("source cluster %+v", spec.Source)
	}
	if spec.Target == nil || spec.Target.Config.Host != "https://host.example.com:6443" {
		t.Errorf("target cluster %+v", spec.Target)
	}
	if spec.Endpoint != v1alpha1.EndpointRoute || spec.Type != v1alpha1.MigrationTypeCutOver || len(spec.Proxies) != 1 || !spec.CreateTargetClaims {
		t.Errorf("spec %+v", spec)
	}
	d := f.get(t)
	if !controllerutil.ContainsFinalizer(d, Finalizer) || d.Status.Phase != v1alpha1.PhaseRunning || d.Status.StartTimestamp == nil || d.Status.ObservedGeneration != 1 {
		t.Errorf("after start: finalizers %v, status %+v", d.Finalizers, d.Status)
	}
	if c := condition(d, ConditionRunning); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonStarted {
		t.Errorf("Running condition %+v", c)
	}
	eventually(t, "progress in the status", func() bool {
		d = f.get(t)
		return d.Status.Progress == "25%" && d.Status.TransferredBytes == 50 && d.Status.TotalBytes == 200 && len(d.Status.Volumes) == 2
	})
	if d.Status.Message != "creating the receiver in shop" {
		t.Errorf("message %q", d.Status.Message)
	}
	reconcileDVM(t, r, f.dvm) // while it runs: nothing new starts
	run.release <- nil
	eventually(t, "Succeeded", func() bool { d = f.get(t); return d.Status.Phase == v1alpha1.PhaseSucceeded })
	if d.Status.Progress != "100%" || d.Status.CompletionTimestamp == nil || d.Status.TransferredBytes != 200 {
		t.Errorf("final status %+v", d.Status)
	}
	if c := condition(d, ConditionSucceeded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonCompleted {
		t.Errorf("Succeeded condition %+v", c)
	}
	if c := condition(d, ConditionRunning); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Running condition after the end %+v", c)
	}
	evs := drain(f.events)
	for _, want := range []string{"Normal Started", "Normal Step creating the receiver", "Normal Succeeded copied 2 volumes: 200 bytes"} {
		if !hasEvent(evs, want) {
			t.Errorf("no event %q in %q", want, evs)
		}
	}
	// A finished DVM loses its finalizer and never runs again.
	reconcileDVM(t, r, f.dvm)
	reconcileDVM(t, r, f.dvm)
	if d = f.get(t); controllerutil.ContainsFinalizer(d, Finalizer) {
		t.Error("the finalizer stays on a finished DVM")
	}
	select {
	case <-run.specs:
		t.Error("a finished DVM ran again")
	case <-time.After(100 * time.Millisecond):
	}
	checkThrottled(t, f.patches, r.StatusInterval)
}

// checkThrottled checks that status patches were at least interval apart.
func checkThrottled(t *testing.T, patches chan time.Time, interval time.Duration) {
	t.Helper()
	close(patches)
	var last time.Time
	n := 0
	for at := range patches {
		if n > 0 && at.Sub(last) < interval-5*time.Millisecond {
			t.Errorf("status patches %v apart, want at least %v", at.Sub(last), interval)
		}
		last = at
		n++
	}
	if n == 0 || n > 5 {
		t.Errorf("%d status patches for one step and 20 progress reports", n)
	}
}

func TestDVMFailureHidesProxyPassword(t *testing.T) {
	f := newFixture(t, migrationController(t, "  stunnel_tcp_proxy: "+proxyURL+"\n"))
	run := newFakeRunner()
	r := f.reconciler(run.migrate)
	reconcileDVM(t, r, f.dvm)
	run.spec(t)
	run.release <- errors.New("volume shop/db: CONNECT through " + proxyURL + " refused: 403 Forbidden")
	var d *v1alpha1.DirectVolumeMigration
	eventually(t, "Failed", func() bool { d = f.get(t); return d.Status.Phase == v1alpha1.PhaseFailed })
	c := condition(d, ConditionFailed)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonMigrationFailed || d.Status.CompletionTimestamp == nil {
		t.Errorf("Failed condition %+v, status %+v", c, d.Status)
	}
	evs := drain(f.events)
	if !hasEvent(evs, "Warning Failed volume shop/db") {
		t.Errorf("no Warning event in %q", evs)
	}
	for _, text := range append(evs, d.Status.Message, c.Message) {
		if strings.Contains(text, "pr0xy-pa55") {
			t.Errorf("the proxy password leaked: %q", text)
		}
	}
	if !strings.Contains(d.Status.Message, "migrator:xxxxx@10.0.0.5:3128") || d.Status.Progress != "25%" {
		t.Errorf("status %+v", d.Status)
	}
}

func TestDVMWaitsForClusters(t *testing.T) {
	src := sourceCluster() // not checked yet: no Ready condition
	host := ready(&v1alpha1.MigCluster{ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: ns}, Spec: v1alpha1.MigClusterSpec{IsHostCluster: true}})
	f := newFixture(t, nil, src, host, testDVM())
	run := newFakeRunner()
	r := f.reconciler(run.migrate)
	if res := reconcileDVM(t, r, f.dvm); res.RequeueAfter == 0 {
		t.Error("a waiting DVM is not looked at again")
	}
	d := f.get(t)
	c := condition(d, ConditionRunning)
	if d.Status.Phase != v1alpha1.PhasePending || c == nil || c.Reason != ReasonClusterNotReady || !strings.Contains(c.Message, "MigCluster openshift-migration/source (spec.srcMigClusterRef) is not Ready") {
		t.Errorf("status %+v", d.Status)
	}
	if !hasEvent(drain(f.events), "Warning ClusterNotReady") {
		t.Error("no Warning event")
	}
	// The cluster becomes Ready: the DVM starts.
	var mc v1alpha1.MigCluster
	if err := f.client.Get(t.Context(), client.ObjectKeyFromObject(src), &mc); err != nil {
		t.Fatal(err)
	}
	ready(&mc)
	if err := f.client.Status().Update(t.Context(), &mc); err != nil {
		t.Fatal(err)
	}
	reconcileDVM(t, r, f.dvm)
	run.spec(t)
	run.release <- nil
	eventually(t, "Succeeded", func() bool { return f.get(t).Status.Phase == v1alpha1.PhaseSucceeded })
}

func TestDVMWaitsForAValidMigrationController(t *testing.T) {
	f := newFixture(t, migrationController(t, "  stunnel_tcp_proxy: http://u:pr0xy-pa55@proxy\n"))
	r := f.reconciler(newFakeRunner().migrate)
	reconcileDVM(t, r, f.dvm)
	d := f.get(t)
	c := condition(d, ConditionRunning)
	if d.Status.Phase != v1alpha1.PhasePending || c == nil || c.Reason != ReasonInvalidConfiguration || !strings.Contains(c.Message, "stunnel_tcp_proxy") {
		t.Errorf("status %+v", d.Status)
	}
	if strings.Contains(d.Status.Message, "pr0xy-pa55") {
		t.Errorf("the password leaked: %s", d.Status.Message)
	}
}

func TestDVMDeletionCancelsAndCleansUp(t *testing.T) {
	f := newFixture(t, nil)
	run := newFakeRunner()
	r := f.reconciler(run.migrate)
	reconcileDVM(t, r, f.dvm)
	run.spec(t)
	if err := f.client.Delete(t.Context(), f.get(t)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the DVM gone", func() bool {
		res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(f.dvm)})
		if err != nil {
			t.Fatal(err)
		}
		var d v1alpha1.DirectVolumeMigration
		return res.RequeueAfter == 0 && f.client.Get(t.Context(), client.ObjectKeyFromObject(f.dvm), &d) != nil
	})
	select {
	case cause := <-run.ctxErr:
		if !errors.Is(cause, errDeleted) {
			t.Errorf("cancelled with %v", cause)
		}
	default:
		t.Error("the migration was not cancelled")
	}
	if !r.Wait(time.Second) {
		t.Error("the migration's goroutine still runs")
	}
}

func TestDVMResumesAfterControllerRestart(t *testing.T) {
	f := newFixture(t, nil)
	run := newFakeRunner()
	base, stop := context.WithCancel(t.Context())
	r := f.reconciler(run.migrate)
	r.Base = base
	reconcileDVM(t, r, f.dvm)
	first := run.spec(t)
	stop() // the controller stops
	if !r.Wait(5 * time.Second) {
		t.Fatal("the migration did not return")
	}
	d := f.get(t)
	if d.Status.Phase != v1alpha1.PhaseRunning || !strings.Contains(d.Status.Message, "controller stopped") {
		t.Fatalf("after the controller stopped: %+v", d.Status)
	}
	// A new controller finds it Running and runs it again, with the same objects' names.
	r2 := f.reconciler(run.migrate)
	reconcileDVM(t, r2, f.dvm)
	if again := run.spec(t); again.ID != first.ID || again.ID == "" {
		t.Errorf("IDs %q then %q", first.ID, again.ID)
	}
	if c := condition(f.get(t), ConditionRunning); c == nil || c.Reason != ReasonResumed {
		t.Errorf("Running condition %+v", c)
	}
	run.release <- nil
	eventually(t, "Succeeded", func() bool { return f.get(t).Status.Phase == v1alpha1.PhaseSucceeded })
}
