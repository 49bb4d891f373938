package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/proxy"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// SendOptions are the flags of `ferry send`.
type SendOptions struct {
	Certs      string
	Proxies    []string
	Config     []string
	ServerName string
	Delete     bool
	Checksum   bool
	JSON       bool
	NoOwner    bool
	NoXattrs   bool
	Security   bool
	Workers    int
	Retries    int
	RetryWait  time.Duration
	Progress   string // auto, bars, log, none
	BWLimit    string
	Compress   bool
	// ReportConfigMap names a ConfigMap of the pod's namespace to report progress into
	// (in a sender pod of `ferry migrate`).
	ReportConfigMap string
	Streams         int
	// ConnectTimeout bounds opening each connection: TCP, every CONNECT, the TLS handshake.
	ConnectTimeout time.Duration
}

// AddFlags registers the flags.
func (o *SendOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Certs, "certs", "", "directory of 'ferry certs generate' (required)")
	addProxyFlags(cmd, &o.Proxies, &o.ServerName, &o.Config, &o.ConnectTimeout)
	f.BoolVar(&o.Delete, "delete", false, "remove from the target what the source no longer has")
	f.BoolVar(&o.Checksum, "checksum", false, "compare file content, not size and modification time")
	f.BoolVar(&o.JSON, "json", false, "print progress and the summary as JSON lines on stdout")
	f.BoolVar(&o.NoOwner, "no-owner", false, "do not set owner and group (targets that cannot hold them, such as root-squashed NFS)")
	f.BoolVar(&o.NoXattrs, "no-xattrs", false, "do not copy extended attributes and ACLs")
	f.BoolVar(&o.Security, "security-xattrs", false, "also copy security.* attributes (SELinux labels; the kubelet usually relabels volumes)")
	f.IntVar(&o.Workers, "workers", 4, "files read in parallel")
	f.IntVar(&o.Retries, "retries", 10, "reconnect this many times after a cut connection (resuming where it stopped) or a failure to connect that may pass")
	f.DurationVar(&o.RetryWait, "retry-wait", time.Second, "first wait before reconnecting; doubles up to 30s")
	f.StringVar(&o.BWLimit, "bwlimit", "", "limit the bandwidth: KiB/s as a plain number (as rsync's --bwlimit), or with a unit: 500KiB, 20MiB, 1GiB (per second)")
	f.BoolVar(&o.Compress, "compress", false, "compress data with zstd (for slow links)")
	f.StringVar(&o.ReportConfigMap, "report-configmap", "", "in a pod: also report progress into this ConfigMap of the pod's namespace (used by ferry migrate)")
	f.IntVar(&o.Streams, "streams", 2, "connections that carry file data at once (each through the proxies); when one of the extra ones cannot be opened, the copy goes on over those that could and the log says why")
	f.StringVar(&o.Progress, "progress", "auto", "progress display: auto (bars on a terminal, log lines otherwise), bars, log or none")
}

func newSendCommand(g *GlobalOptions) *cobra.Command {
	o := &SendOptions{}
	cmd := &cobra.Command{
		Use:   "send SRC HOST:PORT/VOLUME[/SUBDIR] --certs DIR [--proxy URL]... [--server-name NAME] [--delete] [--checksum] [--json]",
		Short: "Copy a directory to a volume of a ferry receiver",
		Long: `Copies the directory SRC into VOLUME (optionally a subdirectory of it) on the receiver at
HOST:PORT, over mutually authenticated TLS 1.3, through the proxies given. Every file, owner,
mode, time, link, xattr, ACL and hole is carried; each file is verified with BLAKE3 before it
takes its final name. A second run sends only what changed; a cut connection is resumed.
A connection that cannot be opened within --connect-timeout is explained as 'ferry probe'
would (which hop, which credentials, which rule, who intercepted TLS, a receiver that refuses
this migration's client certificate), and retried only when waiting may help (refused, timed
out, a proxy's gateway error).

Exit codes: 0 when the copy is complete and verified, 1 otherwise, 2 for bad arguments.`,
		Example: `  ferry send /mnt/data rsync.apps.target.example.com:443/data --certs ./certs \
    --proxy http://user:password@proxy.corp:3128 --delete`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd.Context(), o, g, args)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// destination is HOST:PORT/VOLUME[/SUBDIR].
type destination struct {
	Addr, Volume, Subdir string
}

func parseDestination(s string) (destination, error) {
	addr, rest, ok := strings.Cut(s, "/")
	if strings.HasPrefix(s, "[") { // [v6]:port/volume
		if i := strings.Index(s, "]:"); i > 0 {
			j := strings.IndexByte(s[i:], '/')
			if j > 0 {
				addr, rest, ok = s[:i+j], s[i+j+1:], true
			}
		}
	}
	if !ok || rest == "" {
		return destination{}, fmt.Errorf("destination %q: write it as HOST:PORT/VOLUME[/SUBDIR]", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return destination{}, fmt.Errorf("destination %q: %q is not HOST:PORT", s, addr)
	}
	vol, sub, _ := strings.Cut(rest, "/")
	return destination{Addr: addr, Volume: vol, Subdir: strings.Trim(sub, "/")}, nil
}

func runSend(ctx context.Context, o *SendOptions, g *GlobalOptions, args []string) error {
	start := time.Now()
	if err := required("certs", o.Certs); err != nil {
		return err
	}
	src := args[0]
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return usageError(fmt.Errorf("source %s is not a directory", src))
	}
	dst, err := parseDestination(args[1])
	if err != nil {
		return usageError(err)
	}
	rateBytes, err := parseRate(o.BWLimit)
	if err != nil {
		return usageError(fmt.Errorf("--bwlimit: %w", err))
	}
	limit := tunnel.NewLimiter(rateBytes) // shared by every connection of the run
	proxies, err := dataProxies(ctx, g, o.Proxies, o.Config)
	if err != nil {
		return err
	}
	target, err := clientTarget(dst.Addr, o.Certs, o.ServerName, proxies)
	if err != nil {
		return err
	}
	target.DialTimeout = o.ConnectTimeout
	cfg := &engine.SendConfig{
		Source: src, Volume: dst.Volume, Subdir: dst.Subdir, Workers: o.Workers, Log: g.Logger(), Version: version(),
		Streams: o.Streams,
		// The extra data connections (--streams): one that cannot be opened leaves the copy
		// on fewer connections, and the engine logs this error, so it says which
		// connection failed at which step (tunnel.Dial names the hop, the proxy's answer,
		// TLS, or the step that timed out).
		Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
			c, err := tunnel.Dial(ctx, target)
			if err != nil {
				return nil, fmt.Errorf("open an extra data connection (--streams %d) to %s: %w", o.Streams, target.Addr, err)
			}
			return tunnel.LimitWrites(c, limit), nil
		},
		Options: engine.Options{Delete: o.Delete, Checksum: o.Checksum, Security: o.Security, NoOwner: o.NoOwner, NoXattrs: o.NoXattrs, Compress: o.Compress},
	}
	rep := newReporter(o, g)
	pusher, err := startPusher(ctx, o.ReportConfigMap, rep, g)
	if err != nil {
		rep.stop()
		return err
	}
	res, err := sendWithRetries(ctx, o, g, target, cfg, limit, rep)
	if res != nil {
		res.Duration = time.Since(start) // the whole command: every attempt and the waits between
	}
	rep.stop()
	pusher.finish(ctx, res, err)
	// The summary is printed when the run ended with the receiver's summary: complete, or
	// with files that failed. A run that ended otherwise has its error.
	if res != nil && (err == nil || errors.Is(err, engine.ErrIncomplete)) {
		printSummary(g, o, src, args[1], res)
	}
	return err
}

// sendWithRetries runs the copy, reconnecting after cut connections; each new session
// resumes partial files the receiver kept. A connection that cannot be opened is
// explained by the probe (which hop, which credentials, which rule, who intercepted TLS)
// and retried only when the probe says waiting may help (refused, timed out, a gateway
// error); refusals (credentials, proxy rules, interception, a receiver that rejects our
// client certificate) are not retried: they will not change by waiting. Both kinds of
// retry count against --retries and are logged with retry="i/N".
//
// The Result describes the whole run, every attempt added up (see addAttempt); nil when
// no attempt got as far as a connection.
func sendWithRetries(ctx context.Context, o *SendOptions, g *GlobalOptions, target *tunnel.Target, cfg *engine.SendConfig, limit *rate.Limiter, rep *reporter) (*engine.Result, error) {
	wait := o.RetryWait
	var total *engine.Result
	failed := 0 // connection attempts that failed in a row, since the last that connected
	for retry := 0; ; retry++ {
		cfg.Progress = &engine.Progress{}
		rep.watch(cfg.Progress)
		res, err := sendOnce(ctx, target, cfg, limit)
		total = addAttempt(total, res, err)
		var noConn *connectError
		isConnErr := errors.As(err, &noConn)
		if isConnErr {
			failed++
			noConn.Attempts = failed
		} else {
			failed = 0
		}
		if err == nil || errors.Is(err, engine.ErrIncomplete) || !transient(err) || ctx.Err() != nil || retry >= o.Retries {
			return total, err
		}
		count := fmt.Sprintf("%d/%d", retry+1, o.Retries)
		if isConnErr {
			g.Logger().Warn("cannot connect", "retry", count, "wait", wait, "diagnosis", noConn.Err)
		} else {
			g.Logger().Warn("connection lost, resuming", "retry", count, "wait", wait, "error", err)
			rep.reconnects.Add(1)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return total, ctx.Err()
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// addAttempt adds one attempt's Result (res, which ended with err; nil when it did not
// connect) to total, the Result of the attempts before it (nil before the first), and
// returns the sum. What the receiver verified in a cut attempt is not sent again by the
// next one (it finds the file complete), so files, bytes, file data and wire bytes add up
// over the attempts and each file counts once. The tree (entries), the failures and the
// notices are the latest attempt's: it redid what an earlier one left failed. Duration is
// set by the caller, for the whole command.
func addAttempt(total, res *engine.Result, err error) *engine.Result {
	if res == nil {
		return total
	}
	if total == nil {
		total = &engine.Result{}
	}
	summarised := err == nil || errors.Is(err, engine.ErrIncomplete) // the receiver's own count of the tree
	if summarised || res.Entries > total.Entries {
		total.Entries = res.Entries
	}
	total.Transferred += res.Transferred
	total.Bytes += res.Bytes
	total.Verified += res.Verified
	total.Deleted += res.Deleted
	total.WireBytes += res.WireBytes
	total.SentBytes += res.SentBytes
	total.Errors, total.Notices, total.Streams = res.Errors, res.Notices, res.Streams
	return total
}

// sendOnce runs one session. A connection that cannot be opened, or that the receiver
// refuses at once for our client certificate, is a *connectError carrying the probe's
// diagnosis of the path.
func sendOnce(ctx context.Context, target *tunnel.Target, cfg *engine.SendConfig, limit *rate.Limiter) (*engine.Result, error) {
	conn, err := tunnel.Dial(ctx, target)
	if err != nil {
		return nil, &connectError{Addr: target.Addr, Err: diagnose(ctx, target, err)}
	}
	res, err := engine.Send(ctx, tunnel.LimitWrites(conn, limit), cfg)
	if errors.Is(err, engine.ErrCertificateRefused) {
		// In TLS 1.3 the receiver's refusal comes after Dial, on the first read: the
		// connection was never really open. (Its few bytes still count in the run's.)
		return res, &connectError{Addr: target.Addr, Err: diagnose(ctx, target, err)}
	}
	return res, err
}

// connectError: no connection to the receiver could be opened. Err is the probe's
// diagnosis of the path when it found the failure (a *diagnosedError). Attempts counts
// the connection attempts that failed in a row (sessions that did connect reset it).
type connectError struct {
	Addr     string
	Attempts int
	Err      error
}

func (e *connectError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("cannot connect to %s (%d attempts): %v", e.Addr, e.Attempts, e.Err)
	}
	return fmt.Sprintf("cannot connect to %s: %v", e.Addr, e.Err)
}

func (e *connectError) Unwrap() error { return e.Err }

// parseRate reads a bandwidth: a plain number is KiB/s, as rsync's --bwlimit.
func parseRate(s string) (int64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}, {"", 1 << 10}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%q is not a rate: write 500 (KiB/s), 500KiB or 20MiB", s)
		}
		return int64(v * float64(u.mult)), nil
	}
	return 0, fmt.Errorf("%q is not a rate", s)
}

// transient reports whether waiting and reconnecting may help. The probe's diagnosis,
// when there is one, decides.
func transient(err error) bool {
	var diagnosed *diagnosedError
	if errors.As(err, &diagnosed) {
		return diagnosed.Transient()
	}
	var (
		intercepted *tunnel.InterceptedError
		auth        *proxy.AuthError
		refused     *proxy.RefusedError
		refusedPeer *engine.RefusedError
	)
	switch {
	case errors.As(err, &intercepted), errors.As(err, &auth), errors.As(err, &refusedPeer):
		return false
	case errors.As(err, &refused):
		return refused.Status >= 500 // a gateway error may pass; a policy refusal will not
	}
	return true
}
