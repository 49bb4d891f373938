package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// Finalizer keeps a DirectVolumeMigration until its migration was cancelled and the
// objects it created were deleted.
const Finalizer = "migration.openshift.io/ferry-migration"

// Condition types of a DirectVolumeMigration.
const (
	ConditionRunning   = "Running"
	ConditionSucceeded = "Succeeded"
	ConditionFailed    = "Failed"
)

// Reasons of a DirectVolumeMigration's conditions (besides ReasonInvalidSpec and
// ReasonInvalidConfiguration).
const (
	ReasonClusterNotReady = "ClusterNotReady"
	ReasonStarted         = "Started"
	ReasonResumed         = "Resumed"
	ReasonCompleted       = "Completed"
	ReasonMigrationFailed = "MigrationFailed"
)

// MigrateFunc runs a migration: kube.Migrate, or a fake in tests.
type MigrateFunc func(ctx context.Context, spec kube.Spec, rep kube.Reporter) (*kube.Result, error)

// DirectVolumeMigrationReconciler starts the migration of each new DirectVolumeMigration
// and keeps its status; see the package documentation.
type DirectVolumeMigrationReconciler struct {
	Client client.Client
	// Secrets reads the token Secrets of MigClusters; it should not cache every Secret.
	Secrets   client.Reader
	Dynamic   dynamic.Interface // reads the MigrationController and the cluster Proxy
	Host      *rest.Config      // the host cluster's configuration
	Namespace string            // holds the MigrationController
	Env       map[string]string // the environment API proxies may come from
	Image     string            // runs ferry in the migration's pods; "" for kube's default
	Recorder  events.EventRecorder
	// Base is the context migrations run under: cancelling it (the controller stops)
	// stops them without marking them failed. Default context.Background().
	Base context.Context
	// Migrate runs a migration; default kube.Migrate.
	Migrate MigrateFunc
	// ServesRoutes says whether the cluster at cfg serves route.openshift.io; default
	// asks its discovery API.
	ServesRoutes func(ctx context.Context, cfg *rest.Config) (bool, error)
	// StatusInterval is the least time between two status writes of one migration;
	// default two seconds.
	StatusInterval time.Duration

	runs runners
}

// Reconcile moves one DirectVolumeMigration along: finalizer, start, deletion.
func (r *DirectVolumeMigrationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dvm v1alpha1.DirectVolumeMigration
	if err := r.Client.Get(ctx, req.NamespacedName, &dvm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch {
	case !dvm.DeletionTimestamp.IsZero():
		if !r.runs.stop(dvm.UID, errDeleted) {
			return ctrl.Result{RequeueAfter: time.Second}, nil // its cleanup still runs
		}
		// Read it again: the migration's last status write changed it.
		if err := r.Client.Get(ctx, req.NamespacedName, &dvm); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		return ctrl.Result{}, r.dropFinalizer(ctx, &dvm)
	case finished(dvm.Status.Phase):
		return ctrl.Result{}, r.dropFinalizer(ctx, &dvm) // never run again
	case r.runs.running(dvm.UID):
		return ctrl.Result{}, nil
	}
	if controllerutil.AddFinalizer(&dvm, Finalizer) {
		if err := r.Client.Update(ctx, &dvm); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to DirectVolumeMigration %s: %w", req.NamespacedName, err)
		}
	}
	return r.start(ctx, &dvm)
}

func finished(p v1alpha1.Phase) bool {
	return p == v1alpha1.PhaseSucceeded || p == v1alpha1.PhaseFailed
}

func (r *DirectVolumeMigrationReconciler) dropFinalizer(ctx context.Context, dvm *v1alpha1.DirectVolumeMigration) error {
	if !controllerutil.RemoveFinalizer(dvm, Finalizer) {
		return nil
	}
	if err := r.Client.Update(ctx, dvm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of DirectVolumeMigration %s/%s: %w", dvm.Namespace, dvm.Name, err)
	}
	return nil
}

// start prepares the migration and runs it, or records why it has to wait.
func (r *DirectVolumeMigrationReconciler) start(ctx context.Context, dvm *v1alpha1.DirectVolumeMigration) (ctrl.Result, error) {
	spec, reason, err := r.prepare(ctx, dvm)
	if err != nil {
		return r.wait(ctx, dvm, reason, err)
	}
	st := &dvm.Status
	resumed := st.Phase == v1alpha1.PhaseRunning
	now := metav1.Now()
	st.Phase, st.ObservedGeneration = v1alpha1.PhaseRunning, dvm.Generation
	if st.StartTimestamp == nil {
		st.StartTimestamp = &now
	}
	cond := metav1.Condition{Type: ConditionRunning, Status: metav1.ConditionTrue, Reason: ReasonStarted, ObservedGeneration: dvm.Generation,
		Message: fmt.Sprintf("copying %d volumes (%s, endpoint %s)", len(spec.Volumes), spec.Type, spec.Endpoint)}
	if resumed {
		cond.Reason = ReasonResumed
		cond.Message = "the controller restarted: the copy resumes where it stopped"
	}
	st.Message = cond.Message
	meta.SetStatusCondition(&st.Conditions, cond)
	if err := r.Client.Status().Update(ctx, dvm); err != nil {
		return ctrl.Result{}, fmt.Errorf("mark DirectVolumeMigration %s/%s running: %w", dvm.Namespace, dvm.Name, err)
	}
	r.event(dvm, corev1.EventTypeNormal, cond.Reason, cond.Message)
	if !resumed {
		migrations.WithLabelValues(string(v1alpha1.PhaseRunning)).Inc()
	}
	running.Inc()
	rep := r.newReporter(dvm, spec.Proxies)
	log.FromContext(ctx).Info("migration started", "id", spec.ID, "volumes", len(spec.Volumes), "endpoint", spec.Endpoint, "type", spec.Type)
	r.runs.start(r.base(), dvm.UID, func(ctx context.Context) {
		defer running.Dec()
		res, err := r.migrate()(ctx, spec, rep)
		rep.finish(ctx, res, err)
	})
	return ctrl.Result{}, nil
}

// wait records why the DVM cannot start yet and tries again later.
func (r *DirectVolumeMigrationReconciler) wait(ctx context.Context, dvm *v1alpha1.DirectVolumeMigration, reason string, why error) (ctrl.Result, error) {
	st := &dvm.Status
	if st.Phase == "" {
		st.Phase = v1alpha1.PhasePending
	}
	msg := truncate(why.Error(), maxMessage)
	cond := metav1.Condition{Type: ConditionRunning, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: dvm.Generation}
	changed := meta.SetStatusCondition(&st.Conditions, cond) || st.Message != msg || st.ObservedGeneration != dvm.Generation
	st.Message, st.ObservedGeneration = msg, dvm.Generation
	if changed {
		if err := r.Client.Status().Update(ctx, dvm); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of DirectVolumeMigration %s/%s: %w", dvm.Namespace, dvm.Name, err)
		}
		r.event(dvm, corev1.EventTypeWarning, reason, msg)
	}
	return ctrl.Result{RequeueAfter: 15 * time.Second}, nil
}

// prepare resolves the clusters and the settings into a migration spec. On error, reason
// is the condition reason to report.
func (r *DirectVolumeMigrationReconciler) prepare(ctx context.Context, dvm *v1alpha1.DirectVolumeMigration) (kube.Spec, string, error) {
	s, err := readSettings(ctx, r.Dynamic, r.Namespace, r.Env)
	if err != nil {
		return kube.Spec{}, ReasonInvalidConfiguration, err
	}
	spec, err := buildSpec(dvm, s, r.Image)
	if err != nil {
		return kube.Spec{}, ReasonInvalidConfiguration, err
	}
	var cfgs [2]*rest.Config
	for i, ref := range []*corev1.ObjectReference{dvm.Spec.SrcMigClusterRef, dvm.Spec.DestMigClusterRef} {
		field := [2]string{"spec.srcMigClusterRef", "spec.destMigClusterRef"}[i]
		mc, err := r.readyCluster(ctx, dvm.Namespace, field, ref)
		if err != nil {
			return kube.Spec{}, reasonOf(err, ReasonClusterNotReady), err
		}
		var proxy = s.apiProxy()
		if mc.Spec.IsHostCluster {
			proxy = nil
		}
		cfgs[i], err = clusterConfig(ctx, r.Secrets, r.Host, mc, proxy)
		if err != nil {
			return kube.Spec{}, ReasonClusterNotReady, fmt.Errorf("MigCluster %s/%s: %w", mc.Namespace, mc.Name, err)
		}
		c, err := kube.NewCluster(mc.Name, cfgs[i])
		if err != nil {
			return kube.Spec{}, ReasonClusterNotReady, fmt.Errorf("clients of MigCluster %s/%s: %w", mc.Namespace, mc.Name, err)
		}
		if i == 0 {
			spec.Source = c
		} else {
			spec.Target = c
		}
	}
	spec.Endpoint, err = chooseEndpoint(dvm, s, func() (bool, error) { return r.servesRoutes(ctx, cfgs[1]) })
	if err != nil {
		return kube.Spec{}, ReasonInvalidConfiguration, err
	}
	return spec, "", nil
}

// readyCluster reads the MigCluster a DVM field names and checks it is Ready.
func (r *DirectVolumeMigrationReconciler) readyCluster(ctx context.Context, namespace, field string, ref *corev1.ObjectReference) (*v1alpha1.MigCluster, error) {
	if ref == nil || ref.Name == "" {
		return nil, &clusterError{ReasonInvalidSpec, fmt.Errorf("%s is not set: name a MigCluster", field)}
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	if key.Namespace == "" {
		key.Namespace = namespace
	}
	var mc v1alpha1.MigCluster
	if err := r.Client.Get(ctx, key, &mc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("MigCluster %s (%s) does not exist", key, field)
		}
		return nil, fmt.Errorf("read MigCluster %s: %w", key, err)
	}
	c := meta.FindStatusCondition(mc.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionTrue {
		why := "not checked yet"
		if c != nil {
			why = c.Message
		}
		return nil, fmt.Errorf("MigCluster %s (%s) is not Ready: %s", key, field, why)
	}
	return &mc, nil
}

func (r *DirectVolumeMigrationReconciler) servesRoutes(ctx context.Context, cfg *rest.Config) (bool, error) {
	if r.ServesRoutes != nil {
		return r.ServesRoutes(ctx, cfg)
	}
	return servesRoutes(ctx, cfg)
}

func (r *DirectVolumeMigrationReconciler) migrate() MigrateFunc {
	if r.Migrate != nil {
		return r.Migrate
	}
	return kube.Migrate
}

func (r *DirectVolumeMigrationReconciler) base() context.Context {
	if r.Base != nil {
		return r.Base
	}
	return context.Background()
}

// Wait waits until every migration of this reconciler has returned, at most timeout.
func (r *DirectVolumeMigrationReconciler) Wait(timeout time.Duration) bool {
	return r.runs.wait(timeout)
}

func (r *DirectVolumeMigrationReconciler) event(dvm *v1alpha1.DirectVolumeMigration, typ, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(dvm, nil, typ, reason, "Migrate", "%s", truncate(note, maxEventNote))
	}
}

// SetupWithManager registers the reconciler; DVMs that wait are looked at again when a
// MigCluster or a MigrationController changes.
func (r *DirectVolumeMigrationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("directvolumemigration").
		For(&v1alpha1.DirectVolumeMigration{}).
		Watches(&v1alpha1.MigCluster{}, handler.EnqueueRequestsFromMapFunc(r.waiting)).
		Watches(newMigrationController(), handler.EnqueueRequestsFromMapFunc(r.waiting)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

// waiting lists the DVMs that have not started, for a change of obj.
func (r *DirectVolumeMigrationReconciler) waiting(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.DirectVolumeMigrationList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list DirectVolumeMigrations")
		return nil
	}
	var out []reconcile.Request
	for _, d := range list.Items {
		if d.Status.Phase == "" || d.Status.Phase == v1alpha1.PhasePending {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
		}
	}
	return out
}
