package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// ServeOptions are the flags of `ferry serve`.
type ServeOptions struct {
	Listen  string
	Certs   string
	Volumes []string // NAME=PATH
	Workers int
	Grace   time.Duration
	Ready   chan<- string // tests: receives the listening address
}

func newServeCommand(g *GlobalOptions) *cobra.Command {
	o := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --certs DIR --volume NAME=PATH [--volume NAME=PATH]...",
		Short: "Receive volumes from ferry send",
		Long: `Runs the receiver: accepts TLS 1.3 connections whose client certificate is signed by
the migration CA, and writes each sender's tree into the named volume. Files are written
under temporary names, verified against the sender's digest, and renamed into place.`,
		Example: "  ferry serve --listen :6443 --certs /etc/ferry/certs --volume data=/mnt/data --volume logs=/mnt/logs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), o, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "", "address to accept senders on (required)")
	f.StringVar(&o.Certs, "certs", "", "directory of 'ferry certs generate' (required)")
	f.StringArrayVar(&o.Volumes, "volume", nil, "NAME=PATH of a volume to serve; repeatable (required)")
	f.IntVar(&o.Workers, "workers", 4, "files written in parallel per sender")
	f.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long running sessions may finish")
	return cmd
}

func parseVolumes(specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, usageError(fmt.Errorf("--volume NAME=PATH is required"))
	}
	vols := make(map[string]string)
	for _, v := range specs {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" || strings.Contains(name, "/") {
			return nil, usageError(fmt.Errorf("--volume %q: write it as NAME=PATH (NAME without '/')", v))
		}
		if _, dup := vols[name]; dup {
			return nil, usageError(fmt.Errorf("--volume %q: the name %q is given twice", v, name))
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--volume %s: %s is not a directory", name, path)
		}
		vols[name] = path
	}
	return vols, nil
}

func runServe(ctx context.Context, o *ServeOptions, g *GlobalOptions) error {
	if err := required("listen", o.Listen, "certs", o.Certs); err != nil {
		return err
	}
	vols, err := parseVolumes(o.Volumes)
	if err != nil {
		return err
	}
	b, err := pki.Load(o.Certs, pki.Server)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	log := g.Logger()
	log.Info("receiver listening", "listen", ln.Addr().String(), "volumes", strings.Join(o.Volumes, ","))
	if o.Ready != nil {
		o.Ready <- ln.Addr().String()
	}
	rc := &engine.Receiver{Volumes: vols, Log: log, Workers: o.Workers, Version: version()}
	cfg := tunnel.ServerConfig(b)
	return tunnel.Serve(ctx, ln, o.Grace, func(ctx context.Context, c net.Conn) {
		serveConn(ctx, c, cfg, rc, g)
	})
}

func serveConn(ctx context.Context, c net.Conn, cfg *tls.Config, rc *engine.Receiver, g *GlobalOptions) {
	start := time.Now()
	peer := c.RemoteAddr().String()
	tc, err := tunnel.AcceptTLS(ctx, c, cfg)
	if err != nil {
		tunnel.LogRefused(g.Logger(), peer, err)
		return
	}
	if err := rc.Handle(ctx, tc); err != nil {
		g.Logger().Warn("session ended with error", "peer", peer, "duration", time.Since(start).Round(time.Millisecond), "error", err)
		return
	}
	g.Logger().Info("session complete", "peer", peer, "duration", time.Since(start).Round(time.Millisecond))
}
