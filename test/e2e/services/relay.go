package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialFunc opens a connection to a backend, in whichever namespace the backend lives.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// listener serves one frontend address (cluster IP, node port or load-balancer IP and a
// port): each connection goes to the next backend that answers.
type listener struct {
	ln       net.Listener
	backends func() []string // looked up at each connection
	dial     dialFunc
	log      *slog.Logger

	next   atomic.Uint64 // round robin
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newListener(ln net.Listener, backends func() []string, dial dialFunc, log *slog.Logger) *listener {
	l := &listener{ln: ln, backends: backends, dial: dial, log: log, conns: map[net.Conn]struct{}{}}
	l.wg.Go(l.serve)
	return l
}

func (l *listener) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Warn("accept", "err", err)
			}
			return
		}
		if !l.track(c, true) {
			c.Close()
			return
		}
		l.wg.Go(func() {
			defer l.track(c, false)
			l.relay(c)
		})
	}
}

// relay connects c to a backend and copies both ways, passing half-closes on. A
// connection for which no backend answers is closed, as kube-proxy rejects it.
func (l *listener) relay(c net.Conn) {
	defer c.Close()
	b, err := l.connect()
	if err != nil {
		l.log.Info("no backend", "from", c.RemoteAddr(), "err", err)
		return
	}
	defer b.Close()
	if !l.track(b, true) {
		return
	}
	defer l.track(b, false)
	done := make(chan struct{})
	go func() {
		copyHalf(b, c)
		close(done)
	}()
	copyHalf(c, b)
	<-done
}

// connect tries the backends from the round-robin position on; the first that accepts wins.
func (l *listener) connect() (net.Conn, error) {
	addrs := l.backends()
	if len(addrs) == 0 {
		return nil, errors.New("the service has no ready endpoints")
	}
	start := int(l.next.Add(1))
	var errs []error
	for i := range addrs {
		addr := addrs[(start+i)%len(addrs)]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := l.dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			return b, nil
		}
		errs = append(errs, fmt.Errorf("dial %s: %w", addr, err))
	}
	return nil, errors.Join(errs...)
}

// copyHalf copies src to dst, then closes dst for writing (or entirely, when it cannot
// half-close) so the far side sees the end of the stream.
func copyHalf(dst, src net.Conn) {
	io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
}

// track adds or removes an open connection; adding fails once the listener is closed.
func (l *listener) track(c net.Conn, add bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !add:
		delete(l.conns, c)
	case l.closed:
		return false
	default:
		l.conns[c] = struct{}{}
	}
	return true
}

// close stops accepting, ends the open connections and waits for their goroutines.
func (l *listener) close() {
	l.ln.Close()
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
