package testenv

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peer is a program started for a test: it runs until the test's cleanup.
type peer struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the program has exited
	err  error         // exit status, set before done closes
	logs []string      // files whose tail is shown when the test fails
}

// startPeer starts cmd with its output in dir/<name>.out and arranges for it to be
// stopped at cleanup, with the tails of its logs shown first if the test failed.
func startPeer(t testing.TB, name, dir string, cmd *exec.Cmd, logs ...string) *peer {
	t.Helper()
	out := filepath.Join(dir, name+".out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// Killed if the test binary dies before its cleanups run. (Programs that change
	// their user id, squid for one, lose this; sweepStale catches those in namespaces.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &peer{name: name, cmd: cmd, done: make(chan struct{}), logs: append([]string{out}, logs...)}
	if err := StartCommand(cmd); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs(t)
		}
	})
	t.Cleanup(p.stop) // runs before the dump above: logs are complete by then
	return p
}

// stop sends SIGTERM, then SIGKILL after a few seconds.
func (p *peer) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *peer) dumpLogs(t testing.TB) {
	for _, path := range p.logs {
		t.Logf("%s: tail of %s:\n%s", p.name, path, tail(path, 4000))
	}
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// waitListening waits until addr accepts connections from ns, and stops the test if the
// program exits first or does not get there within limit.
func (p *peer) waitListening(t testing.TB, ns *Netns, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := ns.Dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s: %v", p.name, addr, p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %v: %v", p.name, addr, limit, err)
		}
	}
}

var (
	forkOnce sync.Once
	forkReq  = make(chan func())
)

// StartCommand starts cmd from one thread that lives as long as the process. Use it for
// every child that sets SysProcAttr.Pdeathsig in a process that uses Netns: Pdeathsig
// fires when the parent *thread* exits, and Netns.Dial and Listen let the threads they
// move into a namespace exit, so a child forked from such a thread earlier would be
// killed with it.
func StartCommand(cmd *exec.Cmd) error {
	forkOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for f := range forkReq {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	forkReq <- func() { errc <- cmd.Start() }
	return <-errc
}

// FreePort returns a TCP port that is free on ip inside ns (nil: the test's namespace).
// Another process may take it before it is used; tests live with that small race.
func FreePort(t testing.TB, ns *Netns, ip string) int {
	t.Helper()
	l, err := ns.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// listenAddr completes addr ("", "ip" or "ip:port") into ip:port, with 127.0.0.1 as the
// default ip and a free port when none is given.
func listenAddr(t testing.TB, ns *Netns, addr string) (string, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, strconv.Itoa(FreePort(t, ns, addr))
	}
	return host, port
}

// peerDir makes a temporary directory for a program's files.
func peerDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return dir
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
