package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace made for one test and deleted at its cleanup.
// A nil *Netns stands for the test's own namespace.
type Netns struct {
	Name string

	mu    sync.Mutex // guards hosts
	hosts []string
}

var nsSeq atomic.Int64

// init locks the main goroutine to the main thread, so that no goroutine of Netns.Dial or
// Netns.Listen ever runs on it: the runtime never destroys the main thread, it would stay
// in the namespace.
func init() { runtime.LockOSThread() }

// NewNetns creates an empty namespace with its loopback up. Its name, fy<pid>-<n>-<role>,
// is unique per test process, so parallel test binaries do not collide.
func NewNetns(t testing.TB, role string) *Netns {
	t.Helper()
	Root(t)
	ip := need1(t, "ip")
	sweepStale(t)
	n := &Netns{Name: fmt.Sprintf("fy%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)}
	run(t, ip, "netns", "add", n.Name)
	t.Cleanup(func() { n.remove(t, ip) })
	run(t, ip, "-n", n.Name, "link", "set", "lo", "up")
	return n
}

// remove kills what still runs in the namespace, then deletes it and its /etc/netns files.
func (n *Netns) remove(t testing.TB, ip string) {
	killNetnsPids(ip, n.Name)
	if out, err := exec.Command(ip, "netns", "del", n.Name).CombinedOutput(); err != nil {
		t.Errorf("delete netns %s: %v: %s", n.Name, err, out)
	}
	os.RemoveAll(n.etcDir())
}

func (n *Netns) etcDir() string { return filepath.Join("/etc/netns", n.Name) }

// AddHost makes name resolve to ip for programs run with Command, through
// /etc/netns/<ns>/hosts, which `ip netns exec` mounts over /etc/hosts.
func (n *Netns) AddHost(t testing.TB, name, ip string) {
	t.Helper()
	if err := n.PutHost(name, ip); err != nil {
		t.Fatal(err)
	}
}

// PutHost is AddHost for code that runs outside the test's goroutine. The file is
// rewritten in place: programs already running see the change through their bind mount.
func (n *Netns) PutHost(name, ip string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts = append(n.hosts, ip+"\t"+name)
	text := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		strings.Join(n.hosts, "\n") + "\n"
	if err := os.MkdirAll(n.etcDir(), 0o755); err != nil {
		return fmt.Errorf("add host %s to netns %s: %w", name, n.Name, err)
	}
	if err := os.WriteFile(filepath.Join(n.etcDir(), "hosts"), []byte(text), 0o644); err != nil {
		return fmt.Errorf("add host %s to netns %s: %w", name, n.Name, err)
	}
	return nil
}

// PutFile writes /etc/netns/<ns>/<name> (resolv.conf, for one), which `ip netns exec`
// mounts over /etc/<name> for the programs it starts from then on.
func (n *Netns) PutFile(name, text string) error {
	if err := os.MkdirAll(n.etcDir(), 0o755); err != nil {
		return fmt.Errorf("write %s for netns %s: %w", name, n.Name, err)
	}
	if err := os.WriteFile(filepath.Join(n.etcDir(), name), []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s for netns %s: %w", name, n.Name, err)
	}
	return nil
}

// Command returns a command that runs name in the namespace (ip netns exec), or directly
// when n is nil. `ip netns exec` execs the program, so cmd.Process is the program itself.
// Beware SysProcAttr.Pdeathsig: it fires when the *thread* that started the command
// exits, and Dial and Listen make threads exit (the peers here start from a thread
// that lives as long as the process).
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if n == nil {
		return exec.CommandContext(ctx, name, args...)
	}
	ip, err := lookPath("ip")
	if err != nil {
		ip = "ip"
	}
	return exec.CommandContext(ctx, ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Dial connects from inside the namespace. The host in addr must be an IP literal:
// names would be resolved in the test's namespace, not in n.
func (n *Netns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(network, addr, func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens inside the namespace; accepted connections stay in it. The host in addr
// must be an IP literal or empty.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(network, addr, func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket (udp) inside the namespace. The host in addr must
// be an IP literal or empty.
func (n *Netns) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.do(network, addr, func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// do runs fn, which creates a socket, on a fresh OS thread moved into the namespace.
// The thread stays locked so it dies with its goroutine: no other goroutine ever runs in
// the wrong namespace. A socket keeps the namespace it was created in.
func (n *Netns) do(network, addr string, fn func() error) error {
	if n == nil {
		return fn()
	}
	if strings.HasPrefix(network, "tcp") || strings.HasPrefix(network, "udp") {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("netns %s: %w", n.Name, err)
		}
		if _, err := netip.ParseAddr(host); host != "" && err != nil {
			return fmt.Errorf("netns %s: address %q: host must be an IP literal", n.Name, addr)
		}
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if unix.Gettid() == unix.Getpid() {
			// The main thread is never destroyed, and /proc/<pid>/ns/net shows its
			// namespace. init keeps it for the main goroutine, so this cannot happen.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: refusing to move the main thread", n.Name)
			return
		}
		fd, err := unix.Open(filepath.Join("/run/netns", n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", n.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// run runs a setup command and stops the test when it fails.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
