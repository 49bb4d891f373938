package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
)

// migrationControllerGVK is read as unstructured: MTC's operator takes "true" and "100"
// for booleans and integers, which the typed spec cannot decode (see internal/config).
var migrationControllerGVK = v1alpha1.SchemeGroupVersion.WithKind("MigrationController")

func newMigrationController() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(migrationControllerGVK)
	return u
}

// MigrationControllerReconciler validates the MigrationControllers of the controller's
// namespace through internal/config. The resource has no status: problems and unused
// fields are reported as Events, once per generation.
type MigrationControllerReconciler struct {
	Client    client.Client
	Namespace string
	Recorder  events.EventRecorder

	mu   sync.Mutex
	seen map[types.UID]int64 // the generation last reported
}

// Reconcile validates one MigrationController.
func (r *MigrationControllerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := newMigrationController()
	if err := r.Client.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[types.UID]int64{}
	}
	done := r.seen[u.GetUID()] == u.GetGeneration()
	r.seen[u.GetUID()] = u.GetGeneration()
	r.mu.Unlock()
	if done {
		return ctrl.Result{}, nil
	}
	c, ignored, err := config.DecodeController(u.Object, req.String())
	var e *config.Effective
	if err == nil {
		// The environment is left out: this judges the resource, not the process.
		e, err = config.Resolve(config.Inputs{Controller: c, Ignored: ignored, Env: map[string]string{}})
	}
	if err != nil {
		r.event(u, corev1.EventTypeWarning, ReasonInvalidConfiguration, fmt.Sprintf("migrations wait until this is fixed: %v", err))
		return ctrl.Result{}, nil
	}
	var proxies []string
	for _, v := range e.DataProxies {
		proxies = append(proxies, v.Value) // masked
	}
	path := "direct (no data-path proxy)"
	if len(proxies) > 0 {
		path = "through " + strings.Join(proxies, " then ")
	}
	r.event(u, corev1.EventTypeNormal, "Accepted", "the data path goes "+path)
	if len(e.Ignored) > 0 {
		var parts []string
		for _, ig := range e.Ignored {
			parts = append(parts, ig.Field+" ("+ig.Reason+")")
		}
		r.event(u, corev1.EventTypeNormal, "FieldsNotUsed", "ferry does not use: "+strings.Join(parts, "; "))
	}
	return ctrl.Result{}, nil
}

func (r *MigrationControllerReconciler) event(u *unstructured.Unstructured, typ, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(u, nil, typ, reason, "Validate", "%s", truncate(note, maxEventNote))
	}
}

// SetupWithManager registers the reconciler for the MigrationControllers of Namespace.
func (r *MigrationControllerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace })
	return ctrl.NewControllerManagedBy(mgr).Named("migrationcontroller").
		For(newMigrationController(), builder.WithPredicates(inNamespace, predicate.GenerationChangedPredicate{})).
		Complete(r)
}
