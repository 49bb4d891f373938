package cli

import (
	"context"
	"errors"
	"fmt"
	"net"

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
}

func newProbeCommand(g *GlobalOptions) *cobra.Command {
	o := &ProbeOptions{}
	cmd := &cobra.Command{
		Use:   "probe --connect HOST:PORT --certs DIR [--proxy URL]... [--server-name NAME] [-o json]",
		Short: "Check that a path can carry a migration, and explain what breaks it",
		Long: `Checks the data path step by step: each proxy hop is reachable (proxy-tcp), accepts the
credentials (proxy-auth) and the CONNECT (proxy-connect); TLS reaches the receiver unchanged
(tls-end-to-end: an intercepting proxy is named); the receiver accepts this migration's client
certificate and speaks this version (server-handshake). Later checks are skipped when one fails.

Exit codes: 0 when no check fails, 1 otherwise, 2 for bad arguments.`,
		Example: `  ferry probe --connect rsync.apps.target.example.com:443 --certs ./certs \
    --proxy http://user:password@proxy.corp.example.com:3128 -o json`,
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
	return cmd
}

// errChecksFailed makes the exit code 1 after the report was printed.
var errChecksFailed = errors.New("a check failed")

func runProbe(ctx context.Context, o *ProbeOptions, g *GlobalOptions) error {
	if err := required("connect", o.Connect, "certs", o.Certs); err != nil {
		return err
	}
	if o.Output != "text" && o.Output != "json" {
		return usageError(fmt.Errorf("-o %q: use text or json", o.Output))
	}
	proxies, err := dataProxies(ctx, o.Proxies, o.Config)
	if err != nil {
		return err
	}
	target, err := clientTarget(o.Connect, o.Certs, o.ServerName, proxies)
	if err != nil {
		return err
	}
	r := probe.DataPath(ctx, target, greeter(), o.Measure)
	if o.Output == "json" {
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
	r := probe.DataPath(ctx, target, greeter(), false)
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
