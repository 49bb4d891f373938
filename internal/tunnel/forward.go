package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// handshakeTimeout bounds a TLS handshake on an accepted connection.
const handshakeTimeout = 15 * time.Second

// Server is the stunnel server role: TLS in (client certificate from the migration CA
// required), plain TCP out to Forward.
type Server struct {
	Forward string
	TLS     *tls.Config
	Log     *slog.Logger
	// Grace is how long Serve waits for open connections after ctx is cancelled.
	Grace time.Duration
}

// Serve accepts on ln until ctx is cancelled, then waits up to Grace for open connections.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return Serve(ctx, ln, s.Grace, func(ctx context.Context, in net.Conn) {
		start := time.Now()
		tc, err := AcceptTLS(ctx, in, s.TLS)
		if err != nil {
			LogRefused(s.Log, in.RemoteAddr().String(), err)
			return
		}
		out, err := (&net.Dialer{KeepAlive: KeepAlive}).DialContext(ctx, "tcp", s.Forward)
		if err != nil {
			tc.Close()
			s.Log.Warn("connection failed", "peer", in.RemoteAddr().String(), "forward", s.Forward, "error", err)
			return
		}
		setSocketBuffers(out)
		st := Pipe(ctx, tc, out)
		logDone(s.Log, in.RemoteAddr().String(), s.Forward, start, st)
	})
}

// Client is the stunnel client role: plain TCP in, TLS out to Target through its proxies.
type Client struct {
	Target *Target
	Log    *slog.Logger
	Grace  time.Duration
	// Diagnose, when set, turns the first failure to connect into an explanation of the
	// path (see internal/probe); later failures are logged as they are.
	Diagnose func(ctx context.Context, err error) error
	once     sync.Once
}

// Serve accepts on ln until ctx is cancelled, then waits up to Grace for open connections.
func (c *Client) Serve(ctx context.Context, ln net.Listener) error {
	return Serve(ctx, ln, c.Grace, func(ctx context.Context, in net.Conn) {
		start := time.Now()
		out, err := Dial(ctx, c.Target)
		if err != nil && c.Diagnose != nil {
			c.once.Do(func() { err = c.Diagnose(ctx, err) })
		}
		if err != nil {
			in.Close()
			c.Log.Warn("connection failed", "peer", in.RemoteAddr().String(), "connect", c.Target.Addr, "error", err)
			return
		}
		st := Pipe(ctx, in, out)
		logDone(c.Log, in.RemoteAddr().String(), c.Target.Addr, start, st)
	})
}

func logDone(log *slog.Logger, peer, to string, start time.Time, st PipeStats) {
	attrs := []any{"peer", peer, "to", to, "sent", st.AtoB, "received", st.BtoA, "duration", time.Since(start).Round(time.Millisecond)}
	if st.Err != nil {
		log.Warn("connection closed with error", append(attrs, "error", st.Err)...)
		return
	}
	log.Info("connection closed", attrs...)
}

// LogRefused logs a connection whose TLS handshake failed. One closed (or reset) before it
// sent a byte is a TCP health check or port probe (load balancers send one every few
// seconds): that is logged at debug level, anything else as a warning.
func LogRefused(log *slog.Logger, peer string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		log.Debug("connection closed before the TLS handshake (a health check?)", "peer", peer)
		return
	}
	log.Warn("connection refused", "peer", peer, "stage", "tls handshake", "error", err)
}

// AcceptTLS runs the server side of the handshake on an accepted connection, bounded in
// time; on failure the connection is closed.
func AcceptTLS(ctx context.Context, c net.Conn, cfg *tls.Config) (*Conn, error) {
	tc := serverConn(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// Serve runs handle for each accepted connection, with TCP keepalives on. When ctx is
// cancelled it stops accepting, lets open connections run for grace, then cancels them and
// waits.
func Serve(ctx context.Context, ln net.Listener, grace time.Duration, handle func(context.Context, net.Conn)) error {
	connCtx, cancelConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConns()
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetKeepAlivePeriod(KeepAlive)
			tc.SetKeepAlive(true)
		}
		setSocketBuffers(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(connCtx, c)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cancelConns()
		<-done
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// PipeStats counts what a Pipe moved.
type PipeStats struct {
	AtoB, BtoA int64
	Err        error // the first error other than a clean end of stream
}

// copyBufSize is large enough that a TLS side writes full 16 KiB records in few calls.
const copyBufSize = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Pipe copies both ways between a and b until both directions end. An end of stream in one
// direction is passed on as a half-close, so protocols that shut down one side (rsync, HTTP/1.0
// clients) work. Both connections are closed when Pipe returns, and when ctx is cancelled.
func Pipe(ctx context.Context, a, b net.Conn) PipeStats {
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()
	var st PipeStats
	var errAB, errBA error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		st.BtoA, errBA = copyHalf(a, b)
	}()
	st.AtoB, errAB = copyHalf(b, a)
	wg.Wait()
	a.Close()
	b.Close()
	st.Err = errors.Join(errAB, errBA)
	if ctx.Err() != nil && st.Err != nil {
		st.Err = ctx.Err()
	}
	return st
}

// copyHalf copies src to dst, then half-closes dst. On an error it closes both, so the other
// direction ends too.
func copyHalf(dst, src net.Conn) (int64, error) {
	ready := func() bool { return false }
	if tc, fromTLS := src.(*Conn); fromTLS {
		ready = tc.raw.fullRecordReady
	}
	n, err := copyGathering(dst, src, ready)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		return n, nil
	}
	src.Close()
	dst.Close()
	if errors.Is(err, net.ErrClosed) {
		return n, nil // the other direction failed and closed us
	}
	return n, err
}

// copyGathering copies src to dst through one large buffer. After each read it writes what
// it has, unless ready says more has arrived that the next read takes without waiting: a TLS
// connection yields one record of at most 16 KiB per read, and full records that are
// already here are gathered so that bulk data takes one system call per buffer. Anything
// else (a record still on its way, or a small one: the end of a burst, or a message that is
// not data, after which Read would wait) is written first, so interactive protocols see no
// delay. One goroutine does it all: handing buffers between goroutines costs more than it
// saves.
func copyGathering(dst, src net.Conn, ready func() bool) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	fill := 0
	for {
		nr, rerr := src.Read(buf[fill:])
		fill += nr
		if rerr == nil && len(buf)-fill >= maxPlaintext && ready() {
			continue
		}
		if fill > 0 {
			nw, werr := dst.Write(buf[:fill])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			fill = 0
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
