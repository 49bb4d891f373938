package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// killNetnsPids kills the processes running in namespace name, except this one.
func killNetnsPids(ip, name string) {
	out, _ := exec.Command(ip, "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// stale matches what a test process leaves behind when it dies before its cleanups run
// (a test binary killed on timeout, say): namespaces, squid's directories and its shared
// memory segments. Each name carries the pid of the process that made it.
var stale = []struct {
	dir string
	re  *regexp.Regexp
}{
	{"/run/netns", regexp.MustCompile(`^fy(\d+)-\d+-`)},
	{os.TempDir(), regexp.MustCompile(`^fy(\d+)-squid-`)},
	{"/dev/shm", regexp.MustCompile(`^fy(\d+)sq\d+-`)},
}

// sweepStale removes what dead test processes left, killing the programs still running in
// their namespaces.
func sweepStale(t testing.TB) {
	ip, ipErr := lookPath("ip")
	for _, s := range stale {
		entries, _ := os.ReadDir(s.dir)
		for _, e := range entries {
			m := s.re.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			pid, _ := strconv.Atoi(m[1])
			if pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
				continue
			}
			if s.dir == "/run/netns" {
				if ipErr != nil {
					continue
				}
				killNetnsPids(ip, e.Name())
				if exec.Command(ip, "netns", "del", e.Name()).Run() != nil {
					continue
				}
				os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
			} else if os.RemoveAll(filepath.Join(s.dir, e.Name())) != nil {
				continue
			}
			t.Logf("removed %s, left by dead process %d", filepath.Join(s.dir, e.Name()), pid)
		}
	}
}
