package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// launch is everything needed to start one run of a container.
type launch struct {
	argv            []string // program and arguments
	env             []string
	spec            execSpec
	logPath         string
	terminationFile string // host side of the termination-message file
	containerID     string
	imageID         string
}

// execSpec is the -spec of podexec (test/e2e/cmd/podexec): keep the two in step.
type execSpec struct {
	Mounts   []execMount `json:"mounts,omitempty"`
	Dir      string      `json:"dir,omitempty"`
	Hostname string      `json:"hostname,omitempty"`
	UID      *int64      `json:"uid,omitempty"`
	GID      *int64      `json:"gid,omitempty"`
	Groups   []int64     `json:"groups,omitempty"`
}

func (s execSpec) encode() (string, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode podexec spec: %w", err)
	}
	return string(data), nil
}

type execMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// startErrorCode is podexec's exit status when it could not start the program.
const startErrorCode = 128

const (
	sigterm = syscall.SIGTERM
	sigkill = syscall.SIGKILL
)

// process is one running container process: the leader of its own process group.
type process struct {
	cmd      *exec.Cmd
	started  time.Time
	finished time.Time // set before done closes
	status   syscall.WaitStatus
	done     chan struct{} // closed when the process has exited and its group is killed
}

// start starts a run in the cluster's namespace through podexec, its output going to a
// new log file.
func (a *Agent) start(run *launch) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(run.logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log folder: %w", err)
	}
	log, err := os.OpenFile(run.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	defer log.Close() // the child has its own copy
	spec, err := run.spec.encode()
	if err != nil {
		return nil, err
	}
	args := append([]string{"netns", "exec", a.o.Netns.Name, a.podexec, "-spec", spec, "--"}, run.argv...)
	cmd := exec.Command(a.ip, args...)
	cmd.Env = run.env
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // the group is the container: killed as one
		// Killed with the test binary if it dies without cleanups (podexec sets it
		// again after switching users, which clears it).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := testenv.StartCommand(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", run.argv[0], err)
	}
	p := &process{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go p.reap()
	return p, nil
}

// reap waits for the process to exit, kills what is left of its group while the zombie
// still holds the group id, and then collects it.
func (p *process) reap() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.finished = time.Now()
	if ps := p.cmd.ProcessState; ps != nil {
		p.status, _ = ps.Sys().(syscall.WaitStatus)
	}
	close(p.done)
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// signal signals the process group unless the process has exited.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// exitCode is the exit status, or 128+n for a process killed by signal n.
func (p *process) exitCode() int {
	if p.status.Signaled() {
		return 128 + int(p.status.Signal())
	}
	return p.status.ExitStatus()
}

// logTail returns the end of a log: at most n lines and maxBytes bytes.
func logTail(path string, n, maxBytes int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(maxBytes) {
		if _, err := f.Seek(-int64(maxBytes), io.SeekEnd); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(io.LimitReader(f, int64(maxBytes)))
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, nil))
}

// startError returns podexec's own error from the log of a run that exited with
// startErrorCode, if it was podexec that failed.
func startError(logPath string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(logTail(logPath, 5, 4096)))
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	msg, ok := strings.CutPrefix(last, "podexec: ")
	return msg, ok
}

var podexecOnce struct {
	sync.Once
	path string
	err  error
}

// buildPodexec builds test/e2e/cmd/podexec once per test binary (see cluster.Build).
func buildPodexec() (string, error) {
	podexecOnce.Do(func() {
		podexecOnce.path, podexecOnce.err = build()
	})
	return podexecOnce.path, podexecOnce.err
}

func build() (string, error) {
	return cluster.Build("./cmd/podexec", "podexec")
}
