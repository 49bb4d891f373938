package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/internal/controller"
	"github.com/ferrydvm/ferry/internal/kube"
)

// ControllerOptions are the flags of `ferry controller`.
type ControllerOptions struct {
	Kubeconfig  string
	Context     string
	Namespace   string
	MetricsAddr string
	ProbeAddr   string
	LeaderElect bool
	Image       string
}

// AddFlags registers the flags.
func (o *ControllerOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the host cluster (default: $KUBECONFIG or ~/.kube/config, else the in-cluster configuration)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the MigrationController and the leader-election Lease (default: the pod's namespace, else "+config.DefaultNamespace+")")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "listen address of the Prometheus metrics; 0 turns them off")
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "listen address of /healthz and /readyz; 0 turns them off")
	f.BoolVar(&o.LeaderElect, "leader-elect", true, "run only while holding the Lease "+controller.LeaderElectionID+" (for more than one replica)")
	f.StringVar(&o.Image, "image", "", "image of the migrations' pods (default: $FERRY_IMAGE, else the controller's own when $POD_NAME names its pod, else "+kube.DefaultImage+")")
}

func newControllerCommand(g *GlobalOptions) *cobra.Command {
	o := &ControllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller [--kubeconfig FILE] [--namespace NS] [--metrics-bind-address ADDR] [--health-probe-bind-address ADDR] [--leader-elect=true]",
		Short: "Run the reconcilers of MigCluster, DirectVolumeMigration and MigrationController",
		Long: `Runs migrations driven by custom resources, as MTC's controller does: a MigCluster says how to
reach a cluster's API server (its Ready condition says whether it answers); a
DirectVolumeMigration names claims to copy from one MigCluster to another, and its status shows
the progress; the MigrationController in the controller's namespace gives the data-path proxies
(stunnel_tcp_proxy) and the transfer options. A finished DirectVolumeMigration is never run
again: create a new one for the next stage.

Exit codes: 0 after a clean stop (SIGTERM), 1 when the controller cannot run, 2 for bad flags.`,
		Example: `  ferry controller --kubeconfig ~/.kube/config --namespace openshift-migration --leader-elect=false`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runController(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// serviceAccountNamespace is where the namespace of a pod's service account is mounted.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func runController(ctx context.Context, o *ControllerOptions, g *GlobalOptions) error {
	rc, err := restConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return err
	}
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 20, 40
	}
	ns := o.Namespace
	if ns == "" {
		ns = podNamespace()
	}
	image := o.Image
	if image == "" {
		image = os.Getenv("FERRY_IMAGE")
	}
	if pod := os.Getenv("POD_NAME"); image == "" && pod != "" {
		image, err = ownImage(ctx, rc, ns, pod)
		if err != nil {
			return err
		}
	}
	g.Logger().Info("controller starting", "namespace", ns, "leader-elect", o.LeaderElect, "metrics", o.MetricsAddr, "probes", o.ProbeAddr)
	return controller.Run(ctx, controller.Options{
		Config: rc, Namespace: ns, MetricsAddr: o.MetricsAddr, ProbeAddr: o.ProbeAddr,
		LeaderElect: o.LeaderElect, Image: image, Env: environ(),
		Logger: logr.FromSlogHandler(g.Logger().Handler()),
	})
}

// ownImage is the image of this controller's container, for the migrations' pods.
func ownImage(ctx context.Context, rc *rest.Config, namespace, pod string) (string, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", err
	}
	p, err := cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read the controller's own pod %s/%s for its image (or set --image): %w", namespace, pod, err)
	}
	for _, c := range p.Spec.Containers {
		if len(c.Args) > 0 && c.Args[0] == "controller" {
			return c.Image, nil
		}
	}
	return p.Spec.Containers[0].Image, nil
}

// podNamespace is the namespace the process runs in as a pod, else MTC's.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return config.DefaultNamespace
}
