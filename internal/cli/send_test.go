package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/pki"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/tunnel"
)

// When send cannot open its first connection, the error is the probe's diagnosis of the
// path (the check, its detail and hint), not a raw socket or TLS error; only failures
// that may heal are retried, logged as "cannot connect", never as a lost connection.
// Whether a failure was retried is read in the log, never from how long send took.

// sendLab is a ferry receiver on 127.0.0.1 and a source tree.
type sendLab struct {
	certs, src, addr string
}

func newSendLab(t *testing.T) *sendLab {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "certs")
	if _, errs, code := run("certs", "generate", "--out", certs); code != 0 {
		t.Fatalf("certs generate: %s", errs)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	return &sendLab{certs: certs, src: src, addr: serveVolume(t, certs, t.TempDir())}
}

// serveVolume runs `ferry serve` with dst as volume "v" and returns its address.
func serveVolume(t *testing.T, certs, dst string) string {
	t.Helper()
	gs, _, _ := globals()
	return background(t, func(ctx context.Context, ready chan<- string) error {
		return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certs, Volumes: []string{"v=" + dst}, Grace: time.Second, Ready: ready}, gs)
	})
}

// send runs `ferry send` in-process and returns its error and its log.
func (l *sendLab) send(t *testing.T, addr string, retries int, wait time.Duration, proxies ...string) (error, string) {
	t.Helper()
	return l.sendWith(t, addr, &SendOptions{Proxies: proxies, Retries: retries, RetryWait: wait})
}

// sendWith runs `ferry send` with o, completed with the lab's certificates and quiet
// defaults. send must end by its own bounds: the test's safety deadline failing it.
func (l *sendLab) sendWith(t *testing.T, addr string, o *SendOptions) (error, string) {
	t.Helper()
	g, _, errs := globals()
	o.Certs, o.ServerName, o.Progress, o.Workers = l.certs, "localhost", "none", 1
	if o.Streams == 0 {
		o.Streams = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := runSend(ctx, o, g, []string{l.src, addr + "/v"})
	if ctx.Err() != nil {
		t.Fatalf("send ran until the test's safety deadline: %v\n%s", err, errs)
	}
	t.Logf("send: %v\n%s", err, errs)
	return err, errs.String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// mustSay checks that s contains every want.
func mustSay(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// mustNotSay checks that s contains none of bad.
func mustNotSay(t *testing.T, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Errorf("%s says %q:\n%s", what, b, s)
		}
	}
}

func TestSendFirstConnectionNothingListens(t *testing.T) {
	l := newSendLab(t)
	dead := closedPort(t)
	err, logs := l.send(t, dead, 2, 10*time.Millisecond)
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	// Three attempts: the first and --retries 2.
	mustSay(t, "the error", err.Error(), "cannot connect to "+dead+" (3 attempts)", "proxy-tcp: cannot reach the receiver at "+dead, "(nothing listens at that address and port)")
	// Refused may heal (the receiver may be starting): retried, and said so, counted
	// against --retries.
	mustSay(t, "the log", logs, `msg="cannot connect" retry=1/2`, `retry=2/2`, "diagnosis=\"proxy-tcp:")
	mustNotSay(t, "the log", logs, "connection lost", "resuming", "retry=3/")
}

// squid with Basic auth: a wrong password is the 407 diagnosis at once, never retried;
// the right one copies.
func TestSendFirstConnectionSquid(t *testing.T) {
	l := newSendLab(t)
	sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"mig": "top s3cret:@/"}})
	wrong := "http://" + url.UserPassword("mig", "wr0ng-pw").String() + "@" + sq
	err, logs := l.send(t, l.addr, 5, 10*time.Millisecond, wrong)
	if err == nil {
		t.Fatal("send with a wrong proxy password succeeded")
	}
	mustSay(t, "the error", err.Error(), "cannot connect to "+l.addr+":", "proxy-auth: proxy http://mig:xxxxx@"+sq, "(407)", "refused these credentials")
	mustNotSay(t, "the error and log", err.Error()+logs, "cannot connect\"", "retry=", "resuming", "wr0ng-pw", "attempts")

	right := "http://" + url.UserPassword("mig", "top s3cret:@/").String() + "@" + sq
	if err, logs := l.send(t, l.addr, 0, 10*time.Millisecond, right); err != nil {
		t.Fatalf("send through squid with the right password: %v\n%s", err, logs)
	}
}

// mitmproxy: interception is named (its CA), not retried.
func TestSendFirstConnectionMitmproxy(t *testing.T) {
	l := newSendLab(t)
	mitm, _ := testenv.Mitmproxy(t, nil, "127.0.0.1")
	err, logs := l.send(t, l.addr, 5, 10*time.Millisecond, "http://"+mitm)
	if err == nil {
		t.Fatal("send through mitmproxy succeeded")
	}
	mustSay(t, "the error", err.Error(), "tls-end-to-end:", "was intercepted", `issuer "CN=mitmproxy,O=mitmproxy"`, "relays CONNECT tunnels unchanged")
	mustNotSay(t, "the error and log", err.Error()+logs, "cannot connect\"", "retry=", "resuming", "attempts")
}

// A real ferry receiver that trusts another CA (another migration's receiver, or --certs
// pointing at the wrong folder) refuses our client certificate after TLS 1.3 completed on
// our side, on the first read. send fails at once with the diagnosis, never retried and
// never taken for a lost connection.
func TestSendReceiverRefusesClientCertificate(t *testing.T) {
	certs, other := testenv.Certs(t, "localhost"), testenv.Certs(t, "localhost")
	cfg := tunnel.ServerConfig(testenv.Bundle(t, certs, pki.Server))
	cfg.ClientCAs = testenv.Bundle(t, other, pki.Server).Roots
	rc := &engine.Receiver{Volumes: map[string]string{"v": t.TempDir()}, Version: "test"}
	addr := testenv.Serve(t, func(c net.Conn) {
		if tc, err := tunnel.AcceptTLS(context.Background(), c, cfg); err == nil {
			rc.Handle(context.Background(), tc)
		}
	})
	l := &sendLab{certs: certs, src: t.TempDir()}
	err, logs := l.send(t, addr, 5, 10*time.Millisecond)
	if err == nil {
		t.Fatal("send to a receiver of another CA succeeded")
	}
	mustSay(t, "the error", err.Error(), "cannot connect to "+addr+": server-handshake: the receiver refused this migration's client certificate",
		"tls: unknown certificate authority", "trusts another CA", "wrong directory")
	mustNotSay(t, "the error and log", err.Error()+logs, "connection lost", "resuming", "cannot connect\"", "retry=", "attempts")
}

// A proxy that takes the connection and never answers CONNECT, or a far end that never
// answers TLS, does not hold send: --connect-timeout ends the attempt, the diagnosis names
// the step, and it is retried as a timeout.
func TestSendNoAnswer(t *testing.T) {
	l := newSendLab(t)
	tests := []struct {
		name    string
		addr    func() string
		proxies func() []string
		want    []string
	}{
		{"proxy never answers CONNECT", func() string { return l.addr }, func() []string { return []string{"http://" + testenv.Silent(t)} },
			[]string{"proxy-connect: CONNECT " + l.addr + " via", "no answer within 300ms", "did not answer CONNECT in time"}},
		{"receiver never answers TLS", func() string { return testenv.Silent(t) }, func() []string { return nil },
			[]string{"tls-end-to-end: TLS handshake with", "no answer within 300ms", "did not answer during TLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr()
			err, logs := l.sendWith(t, addr, &SendOptions{Proxies: tt.proxies(), Retries: 1, RetryWait: 10 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond})
			if err == nil {
				t.Fatal("send succeeded")
			}
			mustSay(t, "the error", err.Error(), append([]string{"cannot connect to " + addr + " (2 attempts): "}, tt.want...)...)
			mustSay(t, "the log", logs, `msg="cannot connect" retry=1/1`)
			mustNotSay(t, "the log", logs, "connection lost", "resuming")
		})
	}
}

// An extra data connection (--streams) that cannot be opened leaves the copy on fewer
// connections, and the log says which connection failed at which step. The relay passes
// the first connection to the receiver and holds the others without answering TLS.
func TestSendExtraStreamNoAnswer(t *testing.T) {
	l := newSendLab(t)
	var first sync.Once
	relay := testenv.Serve(t, func(c net.Conn) {
		passed := false
		first.Do(func() {
			passed = true
			up, err := net.Dial("tcp", l.addr)
			if err != nil {
				return
			}
			defer up.Close()
			go io.Copy(up, c)
			io.Copy(c, up)
		})
		if !passed {
			io.Copy(io.Discard, c)
		}
	})
	err, logs := l.sendWith(t, relay, &SendOptions{Streams: 2, ConnectTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, logs)
	}
	mustSay(t, "the log", logs, "carrying data on fewer connections",
		"open an extra data connection (--streams 2) to "+relay+": TLS handshake with "+relay, "no answer within 300ms")
}

// ferry tunnel client: its first failed connection is logged with the probe's diagnosis.
func TestTunnelClientFirstConnectionDiagnosed(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certs)
	sq := testenv.Squid(t, testenv.SquidOptions{Users: map[string]string{"mig": "top s3cret"}})
	tests := []struct {
		name    string
		connect string
		proxies []string
		want    []string
	}{
		{"nothing listens", closedPort(t), nil, []string{"proxy-tcp: cannot reach the receiver", "nothing listens"}},
		{"wrong proxy password", "127.0.0.1:9", []string{"http://mig:wr0ng-pw@" + sq},
			[]string{"proxy-auth: proxy http://mig:xxxxx@" + sq, "(407)", "refused these credentials"}},
		{"server never answers TLS", testenv.Silent(t), nil, []string{"tls-end-to-end: TLS handshake with", "no answer within 300ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, logs := globals()
			client := background(t, func(ctx context.Context, ready chan<- string) error {
				return runTunnelClient(ctx, &TunnelOptions{Listen: "127.0.0.1:0", Connect: tt.connect, Certs: certs, ServerName: "localhost",
					Proxies: tt.proxies, ConnectTimeout: 300 * time.Millisecond, Grace: time.Second, Ready: ready}, g)
			})
			c, err := net.Dial("tcp", client)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, c) // the client closes it when the path fails
			c.Close()
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "connection failed") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			mustSay(t, "the log", logs.String(), append([]string{"connection failed"}, tt.want...)...)
			mustNotSay(t, "the log", logs.String(), "wr0ng-pw", "s3cret")
		})
	}
}

// Both kinds of retry are logged with one key counted against --retries, and the final
// "(N attempts)" counts only the connection attempts that failed in a row: here a session
// that connected and was cut (a receiver that closes after TLS, then goes away), then
// three attempts that find nothing listening.
func TestSendRetriesCountedAlike(t *testing.T) {
	certs := testenv.Certs(t, "localhost")
	cfg := tunnel.ServerConfig(testenv.Bundle(t, certs, pki.Server))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		c, err := ln.Accept()
		ln.Close() // later connections are refused
		if err != nil {
			return
		}
		defer c.Close()
		if tc, err := tunnel.AcceptTLS(context.Background(), c, cfg); err == nil {
			tc.Close()
		}
	}()
	l := &sendLab{certs: certs, src: t.TempDir()}
	err, logs := l.send(t, addr, 3, 10*time.Millisecond)
	if err == nil {
		t.Fatal("send succeeded")
	}
	mustSay(t, "the error", err.Error(), "cannot connect to "+addr+" (3 attempts): proxy-tcp:")
	mustSay(t, "the log", logs, `msg="connection lost, resuming" retry=1/3`, `msg="cannot connect" retry=2/3`, `msg="cannot connect" retry=3/3`)
	mustNotSay(t, "the log", logs, "attempt=", " of=")
}

// A file that fails on the receiver while its data is still on its way (the volume is
// full) ends the run as incomplete, with the receiver's reason: never as a lost
// connection, and never retried. Between the two a relay behaves as proxies do: it passes
// the receiver's answers late (a slow path back), and when its connection to the receiver
// fails it resets the sender's side, dropping what it had not passed yet. A receiver that
// closed at once after its summary, while the sender was still sending, would lose it
// there.
func TestSendFullVolumeIsNoLostConnection(t *testing.T) {
	testenv.Root(t) // to mount a small tmpfs
	certs := filepath.Join(t.TempDir(), "certs")
	if _, errs, code := run("certs", "generate", "--out", certs); code != 0 {
		t.Fatalf("certs generate: %s", errs)
	}
	dst := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dst).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dst).Run() }) // after the receiver stopped
	relay := &lateRelay{up: serveVolume(t, certs, dst)}
	l := &sendLab{certs: certs, src: t.TempDir(), addr: testenv.Serve(t, relay.handle)}
	if err := os.WriteFile(filepath.Join(l.src, "big"), bytes.Repeat([]byte("x"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		err, logs := l.send(t, l.addr, 3, 10*time.Millisecond)
		if !errors.Is(err, engine.ErrIncomplete) {
			t.Fatalf("send to a full volume: %v; want an incomplete copy\n%s", err, logs)
		}
		mustSay(t, "the error", err.Error(), "volume is full")
		mustNotSay(t, "the log", logs, "connection lost", "resuming", "retry=")
	}
}

// lateRelay passes a connection to the receiver at up: the sender's data at most 64 KiB
// every 5 ms, the receiver's 100 ms late. When writing to the receiver fails, or reading from
// it does but for its orderly end, it resets the sender's side at once.
type lateRelay struct{ up string }

func (r *lateRelay) handle(c net.Conn) {
	up, err := net.Dial("tcp", r.up)
	if err != nil {
		return
	}
	defer up.Close()
	var abortOnce sync.Once
	aborted := make(chan struct{})
	abort := func() {
		abortOnce.Do(func() {
			close(aborted)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		})
	}
	type chunk struct {
		at time.Time
		b  []byte
	}
	late := make(chan chunk, 4096)
	go func() { // from the receiver, into the delay line
		defer close(late)
		for {
			b := make([]byte, 16<<10)
			n, err := up.Read(b)
			if n > 0 {
				late <- chunk{time.Now(), b[:n]}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				abort()
				return
			}
		}
	}()
	go func() { // out of the delay line, to the sender
		for ch := range late {
			select {
			case <-time.After(time.Until(ch.at.Add(100 * time.Millisecond))):
			case <-aborted:
				return
			}
			if _, err := c.Write(ch.b); err != nil {
				return
			}
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				abort()
				return
			}
		}
		if err != nil {
			return // the sender is done: closing up ends the receiver's side
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cutRelay passes connections to the receiver at up. The first one it slows (the sender's
// data at about 1.6 MiB/s) and cuts when cut is closed: the receiver's side at once, the
// sender's after it has read what the receiver said. Later ones pass at full speed.
type cutRelay struct {
	up      string
	cut     chan struct{}
	relayed atomic.Int64 // bytes passed, both ways, on every connection

	mu       sync.Mutex
	accepted []time.Time
}

func (r *cutRelay) handle(c net.Conn) {
	r.mu.Lock()
	r.accepted = append(r.accepted, time.Now())
	first := len(r.accepted) == 1
	r.mu.Unlock()
	up, err := net.Dial("tcp", r.up)
	if err != nil {
		return
	}
	defer up.Close()
	down := make(chan struct{})
	go func() {
		defer close(down)
		r.copy(c, up)
		c.(*net.TCPConn).CloseWrite()
	}()
	if !first {
		r.copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		<-down
		return
	}
	buf := make([]byte, 16<<10)
	for {
		select {
		case <-r.cut:
			up.Close() // the receiver sees the connection end
			<-down     // the sender gets what the receiver said, then the end
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			io.Copy(io.Discard, c) // until the sender closes
			return
		default:
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			r.relayed.Add(int64(n))
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *cutRelay) copy(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			r.relayed.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}

// progressLines returns the --json progress events printed so far.
func progressLines(out string) []map[string]any {
	var events []map[string]any
	for line := range strings.SplitSeq(out, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "progress" {
			events = append(events, ev)
		}
	}
	return events
}

// The JSON summary of a run that lost its connection and resumed describes the whole run:
// the files verified before the cut count (once: they are not sent again), the bytes on the
// wire are those of both connections, and the time is the command's. Here a small file is
// verified before the cut, a large one is cut halfway and resumed.
func TestSendSummaryAfterReconnect(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	if _, errs, code := run("certs", "generate", "--out", certs); code != 0 {
		t.Fatalf("certs generate: %s", errs)
	}
	src, dst := t.TempDir(), t.TempDir()
	sizes := map[string]int{"a": 256 << 10, "b": 8 << 20}
	for name, size := range sizes {
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const fileBytes = 256<<10 + 8<<20
	relay := &cutRelay{up: serveVolume(t, certs, dst), cut: make(chan struct{})}
	addr := testenv.Serve(t, relay.handle)

	g, out, errs := globals()
	const retryWait = 500 * time.Millisecond
	o := &SendOptions{Certs: certs, ServerName: "localhost", JSON: true, Workers: 1, Streams: 1, Retries: 2, RetryWait: retryWait}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runSend(ctx, o, g, []string{src, addr + "/v"}) }()
	// Cut once the sender has heard that a is verified (b, slowed, is far from done).
	for cutting := true; cutting; {
		select {
		case err := <-done:
			t.Fatalf("send ended before the cut: %v\n%s", err, errs)
		case <-time.After(20 * time.Millisecond):
		}
		for _, ev := range progressLines(out.String()) {
			if n, _ := ev["files_done"].(float64); n >= 1 {
				close(relay.cut)
				cutting = false
				break
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("send: %v\n%s", err, errs)
	}
	t.Logf("%s", errs)
	mustSay(t, "the log", errs.String(), "connection lost, resuming")
	if n := strings.Count(errs.String(), "connection lost, resuming"); n != 1 {
		t.Errorf("%d resumptions, want 1", n)
	}
	if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("trees differ: %s", out)
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
	}
	t.Logf("summary: %v", sum)
	number := func(key string) float64 {
		t.Helper()
		v, ok := sum[key].(float64)
		if !ok {
			t.Errorf("summary: %s is %#v, want a number", key, sum[key])
		}
		return v
	}
	if sum["event"] != "summary" || sum["source"] != src || sum["destination"] != addr+"/v" {
		t.Errorf("summary: event %v, source %v, destination %v", sum["event"], sum["source"], sum["destination"])
	}
	if v, ok := sum["verified"].(bool); !ok || !v {
		t.Errorf("summary: verified is %#v, want true", sum["verified"])
	}
	if n := number("files"); n != 2 {
		t.Errorf("summary: %v files, want 2: a (verified before the cut) and b", n)
	}
	if n := number("verified_files"); n != 2 {
		t.Errorf("summary: %v files verified, want 2", n)
	}
	if n := number("bytes"); n != fileBytes {
		t.Errorf("summary: %v bytes, want %d: both files, once", n, fileBytes)
	}
	if n := number("entries"); n != 3 {
		t.Errorf("summary: %v entries, want 3", n)
	}
	if n := number("deleted"); n != 0 {
		t.Errorf("summary: %v deleted", n)
	}
	for _, key := range []string{"errors", "notices"} {
		if v, ok := sum[key].([]any); !ok || len(v) != 0 {
			t.Errorf("summary: %s is %#v, want []", key, sum[key])
		}
	}
	// Every byte of both files crossed one of the connections, and the connections carried
	// what the relay passed, less TLS's framing (a record header and tag per 16 KiB, the
	// handshake).
	wire, relayed := number("wire_bytes"), float64(relay.relayed.Load())
	if wire < fileBytes {
		t.Errorf("summary: %v bytes on the wire, less than the %d bytes of the files", wire, fileBytes)
	}
	if tls := 2*16<<10 + relayed/256; wire < relayed-tls {
		t.Errorf("summary: %v bytes on the wire; the relay passed %v (of which at most %v TLS)", wire, relayed, tls)
	}
	// The command ran at least from the first connection to the second, which came after
	// the cut and the wait before reconnecting.
	relay.mu.Lock()
	accepted := relay.accepted
	relay.mu.Unlock()
	if len(accepted) != 2 {
		t.Fatalf("%d connections, want 2", len(accepted))
	}
	secs := number("seconds")
	if between := accepted[1].Sub(accepted[0]).Seconds(); secs < between || secs < retryWait.Seconds() {
		t.Errorf("summary: %v seconds; the two connections were %.3f s apart, with a wait of %v", secs, between, retryWait)
	}
}
