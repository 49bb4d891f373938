package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/internal/kube"
)

// MigrateOptions are the flags of `ferry migrate`.
type MigrateOptions struct {
	Kubeconfig      string
	SourceContext   string
	TargetContext   string
	Namespaces      []string
	PVCs            []string
	AllPVCs         bool
	TargetNamespace string
	Configs         []string
	Proxies         []string
	Endpoint        string
	Stage, Cutover  bool
	CreateClaims    bool
	CreateNS        bool
	StorageClassMap []string
	DryRun          bool
	Output          string
	Image           string
	IngressDomain   string
	BackoffLimit    int
	ID              string
	BandwidthLimit  string
	Checksum        bool
}

// AddFlags registers the options on a flag set.
func (o *MigrateOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file with both contexts (default: KUBECONFIG, ~/.kube/config)")
	f.StringVar(&o.SourceContext, "source-context", "", "kubeconfig context of the source cluster (required)")
	f.StringVar(&o.TargetContext, "target-context", "", "kubeconfig context of the target cluster (required)")
	f.StringArrayVarP(&o.Namespaces, "namespace", "n", nil, "source namespace; repeatable (required)")
	f.StringArrayVar(&o.PVCs, "pvc", nil, "claim to migrate, [NAMESPACE/]NAME[:TARGET_NAME]; repeatable")
	f.BoolVar(&o.AllPVCs, "all-pvcs", false, "migrate every bound claim of the namespaces")
	f.StringVar(&o.TargetNamespace, "target-namespace", "", "target namespace (default: the same name; only with one -n)")
	f.StringArrayVar(&o.Configs, "config", nil, "MigrationController manifest: data-path proxy and transfer options")
	f.StringArrayVar(&o.Proxies, "proxy", nil, "data-path CONNECT proxy http://[user[:password]@]host:port; repeatable: a chain")
	f.StringVar(&o.Endpoint, "endpoint", "", "how the source reaches the target: route, ingress, loadbalancer or nodeport (default: the --config MigrationController's rsync_endpoint_type, else route)")
	f.BoolVar(&o.Stage, "stage", false, "a copy while the application runs (the default); repeat it to send only the changes")
	f.BoolVar(&o.Cutover, "cutover", false, "the final copy: refused while a running pod still mounts a source claim")
	f.BoolVar(&o.CreateClaims, "create-target-pvcs", false, "create missing target claims like their sources")
	f.BoolVar(&o.CreateNS, "create-namespaces", false, "create missing target namespaces")
	f.StringArrayVar(&o.StorageClassMap, "storage-class-map", nil, "SRC=DST: storage class of created target claims; repeatable")
	f.BoolVar(&o.DryRun, "dry-run", false, "stop after the preflight and the probe, print the plan")
	f.StringVarP(&o.Output, "output", "o", "text", "output: text or json (JSON lines)")
	f.StringVar(&o.Image, "image", kube.DefaultImage, "ferry image for the migration's pods")
	f.StringVar(&o.IngressDomain, "ingress-domain", "", "domain of the Ingress hosts (with --endpoint ingress)")
	f.IntVar(&o.BackoffLimit, "backoff-limit", 0, "how many times a failed sender is replaced (default: rsync_backoff_limit of --config, else 20)")
	f.StringVar(&o.ID, "id", "", "migration ID naming its objects (default: random)")
	f.StringVar(&o.BandwidthLimit, "bwlimit", "", "bandwidth limit per sender: KiB/s as rsync's, or 500KiB, 20MiB")
	f.BoolVar(&o.Checksum, "checksum", false, "compare content, not size and time, to find changed files")
}

func newMigrateCommand(g *GlobalOptions) *cobra.Command {
	o := &MigrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate --source-context A --target-context B -n NAMESPACE [--pvc NAME[:TARGET]]... [--all-pvcs] [flags]",
		Short: "Copy the data of persistent volume claims from one cluster to another",
		Long: `Copies claims between two clusters of a kubeconfig: preflight checks, a receiver on the
target behind a Route (or Ingress, LoadBalancer, NodePort), a probe of the data path through
the proxies, a sender pod per claim on the source, progress, and cleanup of every object it
made. Run it with --stage while the application runs, as often as you like (each run sends
only what changed), then with --cutover after stopping the application.

Exit codes: 0 when every claim is copied and verified, 1 otherwise, 2 for bad arguments.`,
		Example: `  ferry migrate --source-context old --target-context new -n shop --all-pvcs \
    --proxy http://user:password@proxy.corp.example.com:3128 --create-target-pvcs --stage
  ferry migrate --source-context old --target-context new -n shop --pvc db-data:db --cutover -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func runMigrate(ctx context.Context, o *MigrateOptions, g *GlobalOptions) error {
	spec, err := o.spec(ctx, g)
	if err != nil {
		return err
	}
	rep := newMigrateReporter(o.Output == "json", g)
	res, err := kube.Migrate(ctx, spec, rep)
	rep.finish(res, err)
	return err
}

// spec turns the flags into a migration spec; mistakes are usage errors.
func (o *MigrateOptions) spec(ctx context.Context, g *GlobalOptions) (kube.Spec, error) {
	if err := required("--source-context", o.SourceContext, "--target-context", o.TargetContext); err != nil {
		return kube.Spec{}, err
	}
	if len(o.Namespaces) == 0 {
		return kube.Spec{}, usageError(errors.New("-n NAMESPACE is required"))
	}
	if o.Stage && o.Cutover {
		return kube.Spec{}, usageError(errors.New("--stage and --cutover exclude each other"))
	}
	if o.Output != "text" && o.Output != "json" {
		return kube.Spec{}, usageError(fmt.Errorf("-o %q: use text or json", o.Output))
	}
	if o.TargetNamespace != "" && len(o.Namespaces) > 1 {
		return kube.Spec{}, usageError(errors.New("--target-namespace needs exactly one -n"))
	}
	endpoint, ok := v1alpha1.ParseEndpointType(o.Endpoint)
	if !ok && o.Endpoint != "" {
		return kube.Spec{}, usageError(fmt.Errorf("--endpoint %q: use route, ingress, loadbalancer or nodeport", o.Endpoint))
	}
	classes := map[string]string{}
	for _, m := range o.StorageClassMap {
		src, dst, ok := strings.Cut(m, "=")
		if !ok || src == "" || dst == "" {
			return kube.Spec{}, usageError(fmt.Errorf("--storage-class-map %q: want SRC=DST", m))
		}
		classes[src] = dst
	}
	spec := kube.Spec{
		ID: o.ID, Endpoint: endpoint, Image: o.Image, CreateTargetClaims: o.CreateClaims,
		CreateNamespaces: o.CreateNS, StorageClassMap: classes,
		DryRun: o.DryRun, IngressDomain: o.IngressDomain, Type: v1alpha1.MigrationTypeStage,
		BackoffLimit: o.BackoffLimit,
	}
	if _, err := parseRate(o.BandwidthLimit); err != nil {
		return kube.Spec{}, usageError(fmt.Errorf("--bwlimit: %w", err))
	}
	if o.Cutover {
		spec.Type = v1alpha1.MigrationTypeCutOver
	}
	apiProxy, err := o.applyConfig(&spec, g)
	if err != nil {
		return kube.Spec{}, err
	}
	if spec.Source, err = cluster(o.Kubeconfig, o.SourceContext, apiProxy); err != nil {
		return kube.Spec{}, err
	}
	if spec.Target, err = cluster(o.Kubeconfig, o.TargetContext, apiProxy); err != nil {
		return kube.Spec{}, err
	}
	spec.Volumes, err = o.volumes(ctx, spec.Source)
	return spec, err
}

// applyConfig takes what the --config MigrationController says (data-path proxies,
// transfer options, pod resources; --proxy flags win) and returns the proxy rule for
// the API servers: its http(s)_proxy and no_proxy, else the environment's.
func (o *MigrateOptions) applyConfig(spec *kube.Spec, g *GlobalOptions) (func(*http.Request) (*url.URL, error), error) {
	in := config.Inputs{Env: environ()}
	if err := config.ReadFiles(o.Configs, &in); err != nil {
		return nil, usageError(err)
	}
	eff, err := config.Resolve(in)
	if err != nil {
		return nil, usageError(err)
	}
	for _, ig := range eff.Ignored {
		g.Logger().Warn("configuration not used", "field", ig.Field, "reason", ig.Reason)
	}
	var mc *v1alpha1.MigrationControllerSpec
	if in.Controller != nil {
		mc = &in.Controller.Spec
	}
	if err := spec.Apply(eff, mc); err != nil {
		return nil, usageError(err)
	}
	if err := defaultEndpoint(spec, mc); err != nil {
		return nil, usageError(err)
	}
	if len(o.Proxies) > 0 {
		spec.Proxies = o.Proxies
	}
	if o.BandwidthLimit != "" {
		spec.BandwidthLimit = o.BandwidthLimit
	}
	spec.Checksum = spec.Checksum || o.Checksum
	return apiProxyFunc(eff), nil
}

// defaultEndpoint fills in the endpoint when --endpoint was not given: the
// MigrationController's rsync_endpoint_type, else a Route.
func defaultEndpoint(spec *kube.Spec, mc *v1alpha1.MigrationControllerSpec) error {
	if spec.Endpoint != "" {
		return nil
	}
	spec.Endpoint = v1alpha1.EndpointRoute
	if mc == nil {
		return nil
	}
	t, err := mc.EndpointType()
	if err != nil {
		return fmt.Errorf("%w; set one there or pass --endpoint", err)
	}
	if t != "" {
		spec.Endpoint = t
	}
	return nil
}

// cluster connects to a context of the kubeconfig through proxy, unless the kubeconfig
// names a proxy-url for that cluster, which wins (as for kubectl).
func cluster(kubeconfig, context string, proxy func(*http.Request) (*url.URL, error)) (*kube.Cluster, error) {
	rc, err := restConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	setAPIProxy(rc, proxy)
	return kube.NewCluster(context, rc)
}

// volumes reads --pvc and --all-pvcs.
func (o *MigrateOptions) volumes(ctx context.Context, src *kube.Cluster) ([]kube.Volume, error) {
	var out []kube.Volume
	target := func(ns string) string {
		if o.TargetNamespace != "" {
			return o.TargetNamespace
		}
		return ns
	}
	for _, p := range o.PVCs {
		ref, targetName, _ := strings.Cut(p, ":")
		ns, claim, qualified := strings.Cut(ref, "/")
		if !qualified {
			if len(o.Namespaces) > 1 {
				return nil, usageError(fmt.Errorf("--pvc %q: with several -n, write NAMESPACE/NAME", p))
			}
			ns, claim = o.Namespaces[0], ref
		}
		if claim == "" {
			return nil, usageError(fmt.Errorf("--pvc %q: no claim name", p))
		}
		out = append(out, kube.Volume{Namespace: ns, Name: claim, TargetNamespace: target(ns), TargetName: targetName})
	}
	if !o.AllPVCs {
		return out, nil
	}
	for _, ns := range o.Namespaces {
		list, err := src.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list the claims of %s on %s: %w", ns, src.Name, err)
		}
		for _, pvc := range list.Items {
			if pvc.Status.Phase == corev1.ClaimBound {
				out = append(out, kube.Volume{Namespace: ns, Name: pvc.Name, TargetNamespace: target(ns)})
			}
		}
	}
	return out, nil
}
