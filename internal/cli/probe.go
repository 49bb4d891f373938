package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/probe"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// ProbeOptions are the flags of `ferry probe`.
type ProbeOptions struct {
	Connect    string
	Certs      string
	Proxies    []string
	Config     []string
	ServerName string
	Output     string
	Measure    bool
	Kubeconfig string
	Context    string
	Pod        string // NAMESPACE/NAME
}

func newProbeCommand(g *GlobalOptions) *cobra.Command {
	o := &ProbeOptions{}
	cmd := &cobra.Command{
		Use:   "probe (--connect HOST:PORT --certs DIR [--proxy URL]... | --kubeconfig FILE [--context NAME] --pod NS/NAME) [-o json]",
		Short: "Check that a path can carry a migration, and explain what breaks it",
		Long: `Checks the data path step by step: each proxy hop is reachable (proxy-tcp), accepts the
credentials (proxy-auth) and the CONNECT (proxy-connect); TLS reaches the receiver unchanged
(tls-end-to-end: an intercepting proxy is named); the receiver accepts this migration's client
certificate and speaks this version (server-handshake). Later checks are skipped when one fails.

With --kubeconfig it checks the API path instead: the API server answers through the proxies
that apply (api-reachable: HTTPS_PROXY/NO_PROXY from the environment or --config), the
credentials are accepted and may exec in --pod (api-auth), and an exec request reaches the API
server with its Upgrade header, as WebSocket and as SPDY (api-upgrade). A 400 "Upgrade request
required" means something in between drops the header.

Exit codes: 0 when no check fails, 1 otherwise, 2 for bad arguments.`,
		Example: `  ferry probe --connect rsync.apps.target.example.com:443 --certs ./certs \
    --proxy http://user:password@proxy.corp.example.com:3128 -o json
  ferry probe --kubeconfig ~/.kube/config --context source --pod my-app/db-0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd.Context(), o, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Connect, "connect", "", "HOST:PORT of the receiver or tunnel server (required)")
	f.StringVar(&o.Certs, "certs", "", "directory of 'ferry certs generate' (required)")
	addProxyFlags(cmd, &o.Proxies, &o.ServerName, &o.Config)
	f.StringVarP(&o.Output, "output", "o", "text", "output: text or json")
	f.BoolVar(&o.Measure, "measure", false, "also time the path, the TLS handshake and the first answer")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "check the API path of this cluster instead of a data path")
	f.StringVar(&o.Context, "context", "", "kubeconfig context")
	f.StringVar(&o.Pod, "pod", "", "NAMESPACE/NAME of a pod to try exec on (with --kubeconfig)")
	return cmd
}

// errChecksFailed makes the exit code 1 after the report was printed.
var errChecksFailed = errors.New("a check failed")

func runProbe(ctx context.Context, o *ProbeOptions, g *GlobalOptions) error {
	if o.Output != "text" && o.Output != "json" {
		return usageError(fmt.Errorf("-o %q: use text or json", o.Output))
	}
	if o.Kubeconfig != "" || o.Pod != "" {
		return runProbeAPI(ctx, o, g)
	}
	if err := required("connect", o.Connect, "certs", o.Certs); err != nil {
		return err
	}
	proxies, err := dataProxies(ctx, g, o.Proxies, o.Config)
	if err != nil {
		return err
	}
	target, err := clientTarget(o.Connect, o.Certs, o.ServerName, proxies)
	if err != nil {
		return err
	}
	var sample probe.Sampler
	if o.Measure {
		sample = func(ctx context.Context, c net.Conn) (time.Duration, float64, error) {
			return engine.Measure(ctx, c, version(), 16<<20)
		}
	}
	return printReport(g, o.Output, probe.DataPath(ctx, target, greeter(), sample))
}

func runProbeAPI(ctx context.Context, o *ProbeOptions, g *GlobalOptions) error {
	ns, name, ok := strings.Cut(o.Pod, "/")
	if !ok || ns == "" || name == "" {
		return usageError(fmt.Errorf("--pod %q: write it as NAMESPACE/NAME", o.Pod))
	}
	eff, err := loadConfig(ctx, &ConfigOptions{Files: o.Config})
	if err != nil {
		return err
	}
	rc, err := restConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return err
	}
	pf := eff.ProxyFunc()
	rc.Proxy = func(req *http.Request) (*url.URL, error) { return pf(req.URL) }
	via := "direct"
	if p, reason, err := eff.ProxyFor(rc.Host); err == nil && p != "" {
		via = "via " + p + " " + reason
	} else if err == nil {
		via = reason
	}
	return printReport(g, o.Output, probe.APIPath(ctx, probe.APITarget{Config: rc, Via: via, Namespace: ns, Pod: name}))
}

func printReport(g *GlobalOptions, output string, r *probe.Report) error {
	if output == "json" {
		r.WriteJSON(g.Stdout)
	} else {
		r.WriteText(g.Stdout)
	}
	if r.Failed() {
		return errChecksFailed
	}
	return nil
}

func greeter() probe.Greeter {
	v := version()
	return func(ctx context.Context, c net.Conn) (string, error) { return engine.Greet(ctx, c, v) }
}

// diagnose runs the data-path probe after a first connection failed, so the user reads
// what is wrong with the path rather than a raw socket or TLS error.
func diagnose(ctx context.Context, target *tunnel.Target, cause error) error {
	r := probe.DataPath(ctx, target, greeter(), nil)
	if perr := r.Err(); perr != nil {
		return &diagnosedError{diagnosis: perr, cause: cause}
	}
	return cause
}

// diagnosedError reads as the probe's diagnosis and unwraps to the original error, which
// decides whether retrying can help.
type diagnosedError struct {
	diagnosis error
	cause     error
}

func (e *diagnosedError) Error() string { return e.diagnosis.Error() }
func (e *diagnosedError) Unwrap() error { return e.cause }
