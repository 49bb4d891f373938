package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// VersionFunc asks a cluster's API server its version.
type VersionFunc func(ctx context.Context, cfg *rest.Config) (string, error)

// MigClusterReconciler keeps each MigCluster's Ready condition: whether its API server
// answers with the credentials given.
type MigClusterReconciler struct {
	Client client.Client
	// Secrets reads the token Secrets; it should not be a cache of every Secret.
	Secrets client.Reader
	// Dynamic reads the MigrationController, Proxy and ClusterVersion of the host cluster.
	Dynamic dynamic.Interface
	// Host is the host cluster's configuration (the manager's).
	Host *rest.Config
	// Namespace holds the MigrationController.
	Namespace string
	// Env is the environment API proxies may come from.
	Env      map[string]string
	Recorder events.EventRecorder
	// Interval is how often a cluster is checked again; default one minute.
	Interval time.Duration
	// Version is the check; default ServerVersion through discovery.
	Version VersionFunc
}

// Reconcile checks one MigCluster and records the outcome in its Ready condition.
func (r *MigClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var mc v1alpha1.MigCluster
	if err := r.Client.Get(ctx, req.NamespacedName, &mc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cond := r.check(ctx, &mc)
	cond.ObservedGeneration = mc.Generation
	was := meta.FindStatusCondition(mc.Status.Conditions, v1alpha1.ConditionReady)
	flipped := was == nil || was.Status != cond.Status || was.Reason != cond.Reason
	changed := meta.SetStatusCondition(&mc.Status.Conditions, cond)
	if changed || mc.Status.ObservedGeneration != mc.Generation {
		mc.Status.ObservedGeneration = mc.Generation
		if err := r.Client.Status().Update(ctx, &mc); err != nil {
			return ctrl.Result{}, fmt.Errorf("update status of MigCluster %s: %w", req.NamespacedName, err)
		}
	}
	if flipped && r.Recorder != nil {
		typ := corev1.EventTypeNormal
		if cond.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(&mc, nil, typ, cond.Reason, "Check", "%s", truncate(cond.Message, maxEventNote))
	}
	every := r.Interval
	if every == 0 {
		every = time.Minute
	}
	if cond.Status != metav1.ConditionTrue {
		every = min(every, 20*time.Second)
	}
	return ctrl.Result{RequeueAfter: every}, nil
}

// check builds the cluster's configuration and asks its API server for its version.
func (r *MigClusterReconciler) check(ctx context.Context, mc *v1alpha1.MigCluster) metav1.Condition {
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	where := mc.Spec.URL
	if mc.Spec.IsHostCluster {
		where = "the host cluster"
	}
	cfg, err := r.config(ctx, mc)
	if err != nil {
		cond.Reason, cond.Message = reasonOf(err, ReasonInvalidSpec), err.Error()
		return cond
	}
	version := r.Version
	if version == nil {
		version = serverVersion
	}
	v, err := version(ctx, cfg)
	switch {
	case err == nil:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonConnected
		cond.Message = fmt.Sprintf("the API server of %s answers (Kubernetes %s)", where, v)
	case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
		cond.Reason = ReasonUnauthorized
		cond.Message = fmt.Sprintf("the API server of %s refused the token: %v; put a valid service account token in the Secret's %s", where, err, v1alpha1.SATokenKey)
	default:
		cond.Reason = ReasonUnreachable
		cond.Message = fmt.Sprintf("cannot reach the API server of %s: %v", where, err)
	}
	return cond
}

// config is the rest.Config of a MigCluster, with the API proxies in force.
func (r *MigClusterReconciler) config(ctx context.Context, mc *v1alpha1.MigCluster) (*rest.Config, error) {
	if mc.Spec.IsHostCluster {
		return clusterConfig(ctx, r.Secrets, r.Host, mc, nil)
	}
	s, err := readSettings(ctx, r.Dynamic, r.Namespace, r.Env)
	if err != nil {
		return nil, &clusterError{ReasonInvalidConfiguration, fmt.Errorf("the API proxies for %s are unknown: %w", mc.Spec.URL, err)}
	}
	return clusterConfig(ctx, r.Secrets, r.Host, mc, s.apiProxy())
}

// reasonOf is the condition reason an error carries, else def.
func reasonOf(err error, def string) string {
	var ce *clusterError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return def
}

// serverVersion asks the API server at cfg its version, in at most 15 seconds.
func serverVersion(ctx context.Context, cfg *rest.Config) (string, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 15 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", err
	}
	return v.GitVersion, nil
}

// SetupWithManager registers the reconciler.
func (r *MigClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Status writes do not change the generation: they do not trigger another check.
	return ctrl.NewControllerManagedBy(mgr).Named("migcluster").
		For(&v1alpha1.MigCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// servesRoutes asks the discovery API of the cluster at cfg whether it serves
// route.openshift.io/v1.
func servesRoutes(ctx context.Context, cfg *rest.Config) (bool, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 15 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	return kube.ServesRoutes(dc)
}
