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
	"k8s.io/client-go/rest"

	"github.com/ferrydvm/ferry/internal/config"
	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/probe"
	"github.com/ferrydvm/ferry/internal/proxy"
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
	// ConnectTimeout bounds opening the data path: TCP, every CONNECT, the TLS handshake.
	ConnectTimeout time.Duration
}

func newProbeCommand(g *GlobalOptions) *cobra.Command {
	o := &ProbeOptions{}
	cmd := &cobra.Command{
		Use:   "probe (--connect HOST:PORT --certs DIR [--proxy URL]... | --kubeconfig FILE [--context NAME] --pod NS/NAME) [-o json]",
		Short: "Check that a path can carry a migration, and explain what breaks it",
		Long: `Checks the data path step by step: each proxy hop is reachable (proxy-tcp), accepts the
credentials (proxy-auth) and the CONNECT (proxy-connect); TLS reaches the receiver unchanged
(tls-end-to-end: an intercepting proxy is named); the receiver accepts this migration's client
certificate and speaks this version (server-handshake). A step that gets no answer within
--connect-timeout fails as a timeout. Later checks are skipped when one fails.

With --kubeconfig it checks the API path instead: the API server answers through the proxies
that apply (api-reachable: the kubeconfig's proxy-url when it has one, as for kubectl, else
HTTPS_PROXY/NO_PROXY from --config or the environment), the credentials are accepted and may
exec in --pod (api-auth), and an exec request reaches the API server with its Upgrade header
(api-upgrade). It is tried as WebSocket and as SPDY, and the detail names both results. The
check passes when SPDY gets through: a 101, or an error only the API server's path to the
kubelet gives (dialing the kubelet, the kubelet's own refusal), which comes after the API
server's upgrade check. client-go falls back from WebSocket to SPDY, and programs that use
only SPDY (MTC's controller, kubectl before 1.30) have nothing else, so WebSocket getting
through while SPDY does not is a failure. "Upgrade request required", in any answer, means
something in between drops the header; an answer that is not the API server's (an HTML 403
or 502 from a proxy or load balancer) names who answered.

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
	addProxyFlags(cmd, &o.Proxies, &o.ServerName, &o.Config, &o.ConnectTimeout)
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
	target.DialTimeout = o.ConnectTimeout
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
	via, err := useAPIProxy(rc, eff)
	if err != nil {
		return err
	}
	return printReport(g, o.Output, probe.APIPath(ctx, probe.APITarget{Config: rc, Via: via, Namespace: ns, Pod: name}))
}

// useAPIProxy gives rc ferry's API proxy selection (environment, --config, NO_PROXY)
// unless the kubeconfig names a proxy-url, which wins as it does for kubectl and
// client-go. It returns how a request to the API server goes, for the report.
func useAPIProxy(rc *rest.Config, eff *config.Effective) (string, error) {
	if rc.Proxy != nil { // the kubeconfig's proxy-url
		u, err := url.Parse(rc.Host)
		if err != nil {
			return "", fmt.Errorf("API server URL %q: %w", rc.Host, err)
		}
		p, err := rc.Proxy(&http.Request{URL: u})
		if err != nil {
			return "", fmt.Errorf("the kubeconfig's proxy-url for %s: %w", rc.Host, err)
		}
		if p == nil {
			return "direct (the kubeconfig's proxy settings)", nil
		}
		return "via " + proxy.Redact(p.String()) + " from the kubeconfig's proxy-url", nil
	}
	setAPIProxy(rc, apiProxyFunc(eff))
	p, reason, err := eff.ProxyFor(rc.Host)
	switch {
	case err != nil:
		return "", fmt.Errorf("choose the proxy for %s: %w", rc.Host, err)
	case p != "":
		return "via " + p + " " + reason, nil
	}
	return reason, nil
}

// apiProxyFunc is the effective API proxy selection as an http.Transport wants it.
func apiProxyFunc(eff *config.Effective) func(*http.Request) (*url.URL, error) {
	pick := eff.ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return pick(r.URL) }
}

// setAPIProxy installs pick on rc unless rc already has a proxy: a kubeconfig's
// proxy-url, which wins.
func setAPIProxy(rc *rest.Config, pick func(*http.Request) (*url.URL, error)) {
	if rc.Proxy == nil {
		rc.Proxy = pick
	}
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

// greetTimeout is the time a diagnosis gives the far end's greeting after the path and TLS
// (engine.Greet waits 10s at most).
const greetTimeout = 15 * time.Second

// diagnose runs the data-path probe after a connection failed, so the user reads what is
// wrong with the path rather than a raw socket or TLS error. When the probe finds the path
// working (the failure has passed), the original error is returned.
func diagnose(ctx context.Context, target *tunnel.Target, cause error) error {
	if ctx.Err() != nil {
		return cause
	}
	// The probe bounds the path and the TLS handshake by the target's dial timeout; this
	// bounds the whole, so that nothing holds a command forever.
	ctx, cancel := context.WithTimeout(ctx, target.DialLimit()+greetTimeout)
	defer cancel()
	r := probe.DataPath(ctx, target, greeter(), nil)
	var perr *probe.Error
	if errors.As(r.Err(), &perr) {
		return &diagnosedError{diagnosis: perr, cause: cause}
	}
	return cause
}

// diagnosedError reads as the probe's diagnosis and unwraps to the original error.
type diagnosedError struct {
	diagnosis *probe.Error
	cause     error
}

func (e *diagnosedError) Error() string { return e.diagnosis.Error() }
func (e *diagnosedError) Unwrap() error { return e.cause }

// Transient reports whether the probe found a failure that may heal by waiting.
func (e *diagnosedError) Transient() bool { return e.diagnosis.Transient() }
