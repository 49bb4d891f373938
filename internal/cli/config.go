package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrydvm/ferry/internal/config"
)

// ConfigOptions are the flags of `ferry config explain`.
type ConfigOptions struct {
	Files      []string
	Kubeconfig string
	Context    string
	Namespace  string
	Output     string
	For        string
	// Env is the environment to read proxies from; nil means the process's.
	Env map[string]string
}

func newConfigCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show the settings ferry takes from manifests, clusters and the environment"}
	o := &ConfigOptions{}
	explain := &cobra.Command{
		Use:   "explain [--config FILE]... [--kubeconfig FILE --context NAME] [-o json] [--for URL]",
		Short: "Print the effective proxy settings and where each came from",
		Long: `Reads a MigrationController (MTC's manifest, as documented), the cluster-wide Proxy and
ClusterVersion (from files given with --config, or from a live cluster), and the environment,
and prints the settings in force and the source of each. Passwords are never shown.

Rules: for talking to API servers, each of HTTP_PROXY, HTTPS_PROXY and NO_PROXY comes from the
MigrationController, else the environment, else the cluster Proxy object (status first), which
exists from OpenShift 4.2 on. The data path uses only stunnel_tcp_proxy (or ferry's
ferry_tcp_proxy_chain), never the HTTP(S) proxies, which usually intercept TLS.`,
		Example: `  ferry config explain --config migration-controller.yaml
  ferry config explain --kubeconfig ~/.kube/config --context source -o json --for https://api.target.example.com:6443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runConfigExplain(cmd.Context(), o, g) },
	}
	f := explain.Flags()
	f.StringArrayVar(&o.Files, "config", nil, "YAML file with a MigrationController, Proxy and/or ClusterVersion (multi-document); repeatable")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "read the objects from this cluster")
	f.StringVar(&o.Context, "context", "", "kubeconfig context")
	f.StringVarP(&o.Namespace, "namespace", "n", config.DefaultNamespace, "namespace of the MigrationController")
	f.StringVarP(&o.Output, "output", "o", "text", "output: text or json")
	f.StringVar(&o.For, "for", "", "also show whether a request to this API URL would use a proxy, and which")
	cmd.AddCommand(explain)
	return cmd
}

// loadConfig gathers the inputs from files, a cluster and the environment, and resolves them.
func loadConfig(ctx context.Context, o *ConfigOptions) (*config.Effective, error) {
	in := config.Inputs{Env: o.Env}
	if in.Env == nil {
		in.Env = environ()
	}
	if err := config.ReadFiles(o.Files, &in); err != nil {
		return nil, err
	}
	if o.Kubeconfig != "" || o.Context != "" {
		dc, err := dynamicClient(o.Kubeconfig, o.Context)
		if err != nil {
			return nil, err
		}
		if err := config.ReadCluster(ctx, dc, o.Namespace, &in); err != nil {
			return nil, err
		}
	}
	return config.Resolve(in)
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func dynamicClient(kubeconfig, context string) (dynamic.Interface, error) {
	rc, err := restConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(rc)
}

func restConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return rc, nil
}

func runConfigExplain(ctx context.Context, o *ConfigOptions, g *GlobalOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return usageError(fmt.Errorf("-o %q: use text or json", o.Output))
	}
	e, err := loadConfig(ctx, o)
	if err != nil {
		return err
	}
	var forResult map[string]string
	if o.For != "" {
		p, reason, err := e.ProxyFor(o.For)
		if err != nil {
			return usageError(err)
		}
		forResult = map[string]string{"url": o.For, "proxy": p, "reason": reason}
	}
	if o.Output == "json" {
		out := struct {
			*config.Effective
			For map[string]string `json:"for,omitempty"`
		}{e, forResult}
		enc := json.NewEncoder(g.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	writeExplain(g.Stdout, e, forResult)
	return nil
}

func writeExplain(w io.Writer, e *config.Effective, forResult map[string]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	show := func(name string, v *config.Value) {
		if v == nil {
			fmt.Fprintf(tw, "  %s\t(not set)\t\n", name)
			return
		}
		note := ""
		if v.Note != "" {
			note = "; " + v.Note
		}
		fmt.Fprintf(tw, "  %s\t%s\tfrom %s%s\n", name, v.Value, v.Source, note)
	}
	fmt.Fprintln(tw, "API proxies (for talking to API servers):")
	show("HTTP_PROXY", e.HTTPProxy)
	show("HTTPS_PROXY", e.HTTPSProxy)
	show("NO_PROXY", e.NoProxy)
	fmt.Fprintln(tw, "Data path (stunnel_tcp_proxy; never the HTTP(S) proxies):")
	if len(e.DataProxies) == 0 {
		fmt.Fprintln(tw, "  direct\t(no data-path proxy set)\t")
	}
	for i, v := range e.DataProxies {
		show(fmt.Sprintf("%d.", i+1), v)
	}
	if len(e.Transfer) > 0 {
		fmt.Fprintln(tw, "Transfer options (ferry migrate and the controller):")
		for _, flag := range config.TransferFlags {
			if v := e.Transfer[flag]; v != nil {
				show("--"+flag, v)
			}
		}
	}
	if len(e.Migration) > 0 {
		fmt.Fprintln(tw, "Migration endpoint and pods (ferry migrate and the controller):")
		for _, field := range config.MigrationFields {
			if v := e.Migration[field]; v != nil {
				show(field, v)
			}
		}
	}
	fmt.Fprintf(tw, "Cluster: %s\n", e.Cluster.Reason)
	for _, u := range e.Cluster.Unreadable {
		fmt.Fprintf(tw, "  could not read %s: %s\n", u.Object, u.Reason)
	}
	if len(e.Ignored) > 0 {
		fmt.Fprintln(tw, "Not used:")
		for _, ig := range e.Ignored {
			fmt.Fprintf(tw, "  %s\t%s\t\n", ig.Field, ig.Reason)
		}
	}
	if forResult != nil {
		p := forResult["proxy"]
		if p == "" {
			p = "no proxy"
		}
		fmt.Fprintf(tw, "For %s: %s (%s)\n", forResult["url"], p, forResult["reason"])
	}
	tw.Flush()
}

// dataProxies returns the data-path proxies of ferry send, tunnel client and probe: the
// --proxy values when given (they win over any --config manifest, as flags do over files,
// with a warning naming the manifest's proxies not used), else the manifest's
// stunnel_tcp_proxy or ferry_tcp_proxy_chain. The manifest's other settings apply to
// ferry migrate and the controller: they are named in one warning line with the flags of
// ferry send that do the same; fields no part of ferry uses are warned about one by one.
func dataProxies(ctx context.Context, g *GlobalOptions, flags, files []string) ([]string, error) {
	if len(files) == 0 {
		return flags, nil
	}
	e, err := loadConfig(ctx, &ConfigOptions{Files: files, Env: map[string]string{}})
	if err != nil {
		return nil, err
	}
	log := g.Logger()
	for _, ig := range e.Ignored {
		log.Warn("configuration not used", "field", ig.Field, "reason", ig.Reason)
	}
	if fields, send := migrationOnly(e); len(fields) > 0 {
		attrs := []any{"fields", strings.Join(fields, ", ")}
		if len(send) > 0 {
			attrs = append(attrs, "with_ferry_send_use", strings.Join(send, " "))
		}
		log.Warn("manifest settings not used by this command: they apply to ferry migrate and the controller", attrs...)
	}
	if len(flags) > 0 {
		if len(e.DataProxies) > 0 {
			log.Warn("--proxy wins: the manifest's data-path proxies are not used", "not_used", strings.Join(valueFields(e.DataProxies), ", "))
		}
		return flags, nil
	}
	var out []string
	for _, v := range e.DataProxies {
		log.Info("data-path proxy", "proxy", v.Value, "from", v.Source)
		out = append(out, v.Raw())
	}
	return out, nil
}

// migrationOnly lists the settings of e other than the data path (fields as written) and
// the ferry send flags that do what they do.
func migrationOnly(e *config.Effective) (fields, sendFlags []string) {
	fields = valueFields([]*config.Value{e.HTTPProxy, e.HTTPSProxy, e.NoProxy})
	for _, flag := range config.TransferFlags {
		v := e.Transfer[flag]
		if v == nil {
			continue
		}
		fields = append(fields, v.Field())
		if f := sendFlag(flag, v.Value); f != "" {
			sendFlags = append(sendFlags, f)
		}
	}
	for _, field := range config.MigrationFields {
		if v := e.Migration[field]; v != nil {
			fields = append(fields, v.Field())
		}
	}
	return fields, sendFlags
}

// sendFlag is the ferry send flag for a transfer option; "" when send's default does it.
func sendFlag(flag, value string) string {
	switch {
	case flag == "delete" || flag == "checksum" || flag == "compress":
		if value == "true" {
			return "--" + flag
		}
		return ""
	}
	return "--" + flag + " " + value
}

func valueFields(vs []*config.Value) []string {
	var out []string
	for _, v := range vs {
		if v != nil {
			out = append(out, v.Field())
		}
	}
	return out
}
