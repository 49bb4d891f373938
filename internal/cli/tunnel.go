package cli

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// TunnelOptions are the flags of `ferry tunnel server` and `ferry tunnel client`.
type TunnelOptions struct {
	Listen     string
	Forward    string // server
	Connect    string // client
	Certs      string
	Proxies    []string
	Config     []string
	ServerName string
	// ConnectTimeout bounds opening each connection to the server (client).
	ConnectTimeout time.Duration
	Grace          time.Duration
	// Ready, when set, receives the listening address once the listener is open (tests).
	Ready chan<- string
}

func newTunnelCommand(g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tunnel",
		Short: "Run one side of a TLS tunnel (a stunnel replacement)",
		Long: `The two stunnel roles of a direct volume migration. The server takes TLS (a client
certificate signed by the migration CA is required) and forwards plain TCP; the client takes
plain TCP and opens TLS to the server, through zero or more HTTP CONNECT proxies. Either side
interoperates with stunnel 5 using the files of 'ferry certs generate'.`,
	}
	cmd.AddCommand(newTunnelServerCommand(g), newTunnelClientCommand(g))
	return cmd
}

func newTunnelServerCommand(g *GlobalOptions) *cobra.Command {
	o := &TunnelOptions{}
	cmd := &cobra.Command{
		Use:     "server --listen ADDR --forward ADDR --certs DIR",
		Short:   "TLS in, plain TCP out",
		Example: "  ferry tunnel server --listen :6443 --forward 127.0.0.1:2222 --certs /etc/ferry/certs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTunnelServer(cmd.Context(), o, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to accept TLS connections on (required)")
	f.StringVar(&o.Forward, "forward", "", "plain TCP address to forward to (required)")
	f.StringVar(&o.Certs, "certs", "", "directory of 'ferry certs generate' (required)")
	f.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long open connections may finish")
	return cmd
}

func newTunnelClientCommand(g *GlobalOptions) *cobra.Command {
	o := &TunnelOptions{}
	cmd := &cobra.Command{
		Use:   "client --listen ADDR --connect HOST:PORT --certs DIR [--proxy URL]... [--server-name NAME]",
		Short: "Plain TCP in, TLS out through proxies",
		Example: `  ferry tunnel client --listen 127.0.0.1:2222 --connect rsync.apps.target.example.com:443 \
    --certs ./certs --proxy http://user:password@proxy.corp:3128`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTunnelClient(cmd.Context(), o, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to accept plain TCP connections on (required)")
	f.StringVar(&o.Connect, "connect", "", "HOST:PORT of the tunnel server (required)")
	f.StringVar(&o.Certs, "certs", "", "directory of 'ferry certs generate' (required)")
	addProxyFlags(cmd, &o.Proxies, &o.ServerName, &o.Config, &o.ConnectTimeout)
	f.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long open connections may finish")
	return cmd
}

func addProxyFlags(cmd *cobra.Command, proxies *[]string, serverName *string, configFiles *[]string, connectTimeout *time.Duration) {
	f := cmd.Flags()
	f.DurationVar(connectTimeout, "connect-timeout", tunnel.DefaultDialTimeout, "give up opening a connection (TCP to the first hop, each CONNECT, the TLS handshake) after this long; the timeout is diagnosed, naming the step")
	f.StringArrayVar(proxies, "proxy", nil, "HTTP CONNECT proxy http://[user[:password]@]host:port, repeatable: a chain in the order given")
	f.StringArrayVar(configFiles, "config", nil, "take the data-path proxy from a MigrationController manifest (stunnel_tcp_proxy) when --proxy is not given")
	f.StringVar(serverName, "server-name", "", "name expected in the server certificate and sent as SNI (default: the host of the address)")
}

// required checks flag values given as name, value pairs, in order.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return usageError(fmt.Errorf("--%s is required", pairs[i]))
		}
	}
	return nil
}

func runTunnelServer(ctx context.Context, o *TunnelOptions, g *GlobalOptions) error {
	if err := required("listen", o.Listen, "forward", o.Forward, "certs", o.Certs); err != nil {
		return err
	}
	b, err := pki.Load(o.Certs, pki.Server)
	if err != nil {
		return err
	}
	ln, err := listen(o, g, "tunnel server")
	if err != nil {
		return err
	}
	s := &tunnel.Server{Forward: o.Forward, TLS: tunnel.ServerConfig(b), Log: g.Logger(), Grace: o.Grace}
	return s.Serve(ctx, ln)
}

func runTunnelClient(ctx context.Context, o *TunnelOptions, g *GlobalOptions) error {
	if err := required("listen", o.Listen, "connect", o.Connect, "certs", o.Certs); err != nil {
		return err
	}
	proxies, err := dataProxies(ctx, g, o.Proxies, o.Config)
	if err != nil {
		return err
	}
	o.Proxies = proxies
	target, err := clientTarget(o.Connect, o.Certs, o.ServerName, proxies)
	if err != nil {
		return err
	}
	target.DialTimeout = o.ConnectTimeout
	ln, err := listen(o, g, "tunnel client")
	if err != nil {
		return err
	}
	c := &tunnel.Client{Target: target, Log: g.Logger(), Grace: o.Grace,
		Diagnose: func(ctx context.Context, err error) error { return diagnose(ctx, target, err) }}
	return c.Serve(ctx, ln)
}

// clientTarget builds the sending side's view of the path from flags.
func clientTarget(addr, certs, serverName string, proxyURLs []string) (*tunnel.Target, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError(fmt.Errorf("%q is not HOST:PORT: %w", addr, err))
	}
	proxies, err := proxy.ParseAll(proxyURLs)
	if err != nil {
		return nil, usageError(fmt.Errorf("--proxy: %w", err))
	}
	b, err := pki.Load(certs, pki.Client)
	if err != nil {
		return nil, err
	}
	return &tunnel.Target{Addr: addr, ServerName: serverName, Proxies: proxies, Bundle: b}, nil
}

func listen(o *TunnelOptions, g *GlobalOptions, role string) (net.Listener, error) {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	attrs := []any{"role", role, "listen", ln.Addr().String()}
	if o.Forward != "" {
		attrs = append(attrs, "forward", o.Forward)
	}
	if o.Connect != "" {
		attrs = append(attrs, "connect", o.Connect)
		for i, p := range o.Proxies {
			attrs = append(attrs, fmt.Sprintf("proxy%d", i+1), proxy.Redact(p))
		}
	}
	g.Logger().Info("listening", attrs...)
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	return ln, nil
}
