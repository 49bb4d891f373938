package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// childEnv selects what TestChild does when this test binary runs itself.
const childEnv = "FERRY_TESTENV_CHILD"

// TestChild is a helper run in a child process by the tests below; alone it does nothing.
func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "fail":
		tp := NewTopology(t)
		RsyncDaemon(t, tp.Target, tp.TargetIP, t.TempDir())
		t.Fatal("deliberate failure")
	case "exit":
		ns := NewNetns(t, "stale")
		RsyncDaemon(t, ns, "", t.TempDir())
		Squid(t, SquidOptions{Netns: ns}) // squid changes its uid: Pdeathsig does not reach it
		os.Exit(3)                        // no cleanups run: as when a test binary is killed on timeout
	case "need":
		Need(t, "ferry-no-such-program")
	}
}

// runChild runs TestChild in a child process and returns its pid and output.
func runChild(t *testing.T, mode string, env ...string) (int, string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process == nil {
		t.Fatalf("run child: %v", err)
	}
	return cmd.Process.Pid, out.String(), err
}

// leftovers lists the namespaces, squid directories and shared memory segments whose
// names say they were made by process pid.
func leftovers(pid int) []string {
	var names []string
	for _, s := range stale {
		entries, _ := os.ReadDir(s.dir)
		for _, e := range entries {
			if m := s.re.FindStringSubmatch(e.Name()); m != nil && m[1] == strconv.Itoa(pid) {
				names = append(names, filepath.Join(s.dir, e.Name()))
			}
		}
	}
	return names
}

func TestCleanupAfterFailure(t *testing.T) {
	t.Parallel()
	Root(t)
	Need(t, "ip", "rsync")
	pid, out, err := runChild(t, "fail")
	if err == nil || !strings.Contains(out, "deliberate failure") {
		t.Fatalf("child: %v, want a failure; output:\n%s", err, out)
	}
	if !strings.Contains(out, "rsyncd: tail of") {
		t.Errorf("failed child did not show the peer's log; output:\n%s", out)
	}
	if left := leftovers(pid); len(left) > 0 {
		t.Errorf("left by a failed test: %v", left)
	}
}

func TestStaleNamespacesAreSwept(t *testing.T) {
	t.Parallel()
	Root(t)
	Need(t, "ip", "rsync", "squid")
	pid, out, err := runChild(t, "exit")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("child: %v, want exit status 3; output:\n%s", err, out)
	}
	t.Logf("left by the killed child: %v", leftovers(pid)) // another test binary may sweep first
	sweepStale(t)
	if left := leftovers(pid); len(left) > 0 {
		t.Errorf("still there after the sweep: %v", left)
	}
}

func TestNeedSkipsOrFailsUnderCI(t *testing.T) {
	t.Parallel()
	if _, out, err := runChild(t, "need", "CI="); err != nil || !strings.Contains(out, "--- SKIP") {
		t.Errorf("missing program without CI: %v, want a skip; output:\n%s", err, out)
	}
	if _, out, err := runChild(t, "need", "CI=true"); err == nil || !strings.Contains(out, "--- FAIL") {
		t.Errorf("missing program with CI=true: %v, want a failure; output:\n%s", err, out)
	}
}
