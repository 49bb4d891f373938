package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// LeaderElectionID names the Lease the controllers of one namespace compete for.
const LeaderElectionID = "ferry-controller.migration.openshift.io"

// Options configure Run. Zero values mean the defaults.
type Options struct {
	// Config reaches the host cluster, the one the controller runs in. Required.
	Config *rest.Config
	// Namespace holds the MigrationController and the leader-election Lease. Required.
	Namespace string
	// MetricsAddr and ProbeAddr are the listen addresses of the metrics server and of
	// the /healthz and /readyz probes; "0" turns one off.
	MetricsAddr, ProbeAddr string
	// LeaderElect makes the controller run only while it holds the Lease.
	LeaderElect bool
	// Image runs ferry in the migrations' pods; default kube.DefaultImage.
	Image string
	// Env is the environment API proxies may come from (HTTPS_PROXY...); nil means none.
	Env map[string]string
	// Logger receives controller-runtime's and client-go's logs.
	Logger logr.Logger
	// ShutdownTimeout is how long Run waits, once stopped, for running migrations to
	// delete what they created; default two minutes (kube's cleanup takes at most that).
	ShutdownTimeout time.Duration
}

// Run runs the controllers until ctx ends (or leadership is lost), then cancels the
// migrations still running, which stay Running for the next controller to resume, and
// waits for their cleanup.
func Run(ctx context.Context, o Options) error {
	if o.Config == nil || o.Namespace == "" {
		return fmt.Errorf("controller: Options.Config and Options.Namespace are required")
	}
	ctrl.SetLogger(o.Logger)
	klog.SetLogger(o.Logger)
	registerMetrics()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(o.Config, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        o.Logger,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		// Only the MigrationControllers of our namespace are cached. Secrets are never
		// cached: they are read when needed through the API reader.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			newMigrationController(): {Namespaces: map[string]cache.Config{o.Namespace: {}}},
		}},
	})
	if err != nil {
		return fmt.Errorf("create the controller manager: %w", err)
	}
	dyn, err := dynamic.NewForConfig(o.Config)
	if err != nil {
		return fmt.Errorf("create a dynamic client: %w", err)
	}
	rec := mgr.GetEventRecorder("ferry-controller")
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	dvms := &DirectVolumeMigrationReconciler{
		Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Dynamic: dyn, Host: o.Config,
		Namespace: o.Namespace, Env: o.Env, Image: o.Image, Recorder: rec, Base: runCtx,
	}
	setups := []interface{ SetupWithManager(ctrl.Manager) error }{
		&MigClusterReconciler{Client: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Dynamic: dyn, Host: o.Config,
			Namespace: o.Namespace, Env: o.Env, Recorder: rec},
		dvms,
		&MigrationControllerReconciler{Client: mgr.GetClient(), Namespace: o.Namespace, Recorder: rec},
	}
	for _, s := range setups {
		if err := s.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up a controller: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	err = mgr.Start(runCtx)
	cancel()
	timeout := o.ShutdownTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	if !dvms.Wait(timeout) {
		o.Logger.Info("migrations did not finish their cleanup in time", "timeout", timeout)
	}
	if err != nil {
		return fmt.Errorf("run the controller manager: %w", err)
	}
	return nil
}
