package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// stopGrace is how long a server may take to shut down after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// process is a server started for a test, logging to a file.
type process struct {
	name    string // "source/etcd"
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed

	mu      sync.Mutex
	stopped bool // stop was called: an exit is expected
	quiet   bool // its log was already reported: cleanup prints nothing
}

// startProcess starts bin with args, its output going to logPath. The process is
// stopped when the test ends; if the test failed, or the process died on its own, the
// end of its log is printed.
func startProcess(tb testing.TB, name, logPath, bin string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C meant for go test does not reach it directly.
		Setpgid: true,
		// If the test binary dies without running cleanups (killed, or a timeout
		// panic), the kernel kills the server too.
		Pdeathsig: syscall.SIGKILL,
	}
	fmt.Fprintf(logFile, "### %s %s\n", bin, strings.Join(args, " "))
	// Started from a thread that outlives it, or Pdeathsig would fire with the thread.
	if err := testenv.StartCommand(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.mu.Lock()
		quiet := p.quiet
		p.mu.Unlock()
		if quiet {
			p.stop()
			return
		}
		if err := p.unexpectedExit(); err != nil {
			tb.Errorf("%s (pid %d) exited during the test: %v\n%s", name, cmd.Process.Pid, err, p.tail(40))
		} else if tb.Failed() {
			tb.Logf("%s (pid %d): end of %s:\n%s", name, cmd.Process.Pid, logPath, p.tail(40))
		}
		p.stop()
	})
	return p, nil
}

// exited returns a non-nil error once the process has exited.
func (p *process) exited() error {
	select {
	case <-p.done:
		if p.waitErr != nil {
			return p.waitErr
		}
		return errors.New("exit status 0")
	default:
		return nil
	}
}

// unexpectedExit reports an exit that stop did not cause.
func (p *process) unexpectedExit() error {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return nil
	}
	return p.exited()
}

// stop ends the process with SIGTERM, then SIGKILL after stopGrace, and waits for the
// exit. It may be called more than once. The servers start no children, so only the
// process itself is signalled (os.Process.Signal is safe against pid reuse).
func (p *process) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// discard stops the process of a failed start, whose log tail the start error already
// carries, so that cleanup does not print it again.
func (p *process) discard() {
	p.mu.Lock()
	p.quiet = true
	p.mu.Unlock()
	p.stop()
}

// tail returns about the last n lines of the process's log.
func (p *process) tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		if _, err := f.Seek(-maxBytes, io.SeekEnd); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    | ")
		b.Write(l)
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}
