package router

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// haproxy is a running HAProxy master process whose configuration can be replaced.
type haproxy struct {
	bin, dir, listen string
	netns            *testenv.Netns
	cmd              *exec.Cmd
	done             chan struct{}
	last             string // the configuration in force
}

// startHAProxy writes an empty configuration and starts HAProxy in master-worker mode
// in the foreground, logging to dir/haproxy.log.
func startHAProxy(ns *testenv.Netns, bin, dir, listen string) (*haproxy, error) {
	h := &haproxy{bin: bin, dir: dir, listen: listen, netns: ns, done: make(chan struct{})}
	h.last = Config(listen, dir, nil)
	if err := os.WriteFile(h.cfg(), []byte(h.last), 0o644); err != nil {
		return nil, fmt.Errorf("write haproxy.cfg: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, fmt.Errorf("haproxy log: %w", err)
	}
	h.cmd = ns.Command(context.Background(), bin, "-W", "-db", "-f", h.cfg())
	h.cmd.Stdout, h.cmd.Stderr = logFile, logFile
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := testenv.StartCommand(h.cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	go func() {
		h.cmd.Wait()
		logFile.Close()
		close(h.done)
	}()
	return h, nil
}

func (h *haproxy) cfg() string { return filepath.Join(h.dir, "haproxy.cfg") }

func (h *haproxy) write(text string) error {
	if err := os.WriteFile(h.cfg()+".new", []byte(text), 0o644); err != nil {
		return fmt.Errorf("write haproxy.cfg: %w", err)
	}
	return nil
}

// apply checks text with `haproxy -c` and, when it differs from the configuration in
// force, installs it and reloads HAProxy. A configuration HAProxy rejects is an error and
// the old one stays.
func (h *haproxy) apply(text string) error {
	if text == h.last {
		return nil
	}
	select {
	case <-h.done:
		return fmt.Errorf("haproxy has exited: %s", h.logTail())
	default:
	}
	if err := h.write(text); err != nil {
		return err
	}
	if out, err := exec.Command(h.bin, "-c", "-q", "-f", h.cfg()+".new").CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy rejects the new configuration: %v: %s", err, out)
	}
	if err := os.Rename(h.cfg()+".new", h.cfg()); err != nil {
		return fmt.Errorf("install haproxy.cfg: %w", err)
	}
	loaded := h.loads()
	if err := h.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return fmt.Errorf("reload haproxy: %w", err)
	}
	h.last = text
	// The master reloads asynchronously and says so in its log: wait for it, so that
	// what the caller reports next is already served.
	for deadline := time.Now().Add(10 * time.Second); h.loads() == loaded; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy did not reload within 10s: %s", h.logTail())
		}
	}
	return nil
}

// loads counts the configurations the master has loaded, successfully or not.
func (h *haproxy) loads() int {
	b, _ := os.ReadFile(filepath.Join(h.dir, "haproxy.log"))
	return bytes.Count(b, []byte("Loading success.")) + bytes.Count(b, []byte("Loading failure!"))
}

// stop ends HAProxy and its workers.
func (h *haproxy) stop() {
	syscall.Kill(-h.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.done
	}
}

func (h *haproxy) logTail() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "haproxy.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
