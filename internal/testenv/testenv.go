// Package testenv starts the real programs ferry meets in the field (squid, tinyproxy,
// mitmproxy, stunnel, an rsync daemon) and builds network namespaces for integration
// tests, so a test can put a client, a proxy and a server on separate networks.
//
// It is imported only from _test.go files. Everything it starts is stopped, and every
// namespace it creates is deleted, when the test ends, also when the test fails;
// namespaces left behind by a test binary that was killed are removed by the next one.
// A test that needs a missing program or root skips with a message, and fails when CI is
// set: CI never passes by skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// inCI reports whether the CI environment variable asks for strict mode.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// skipOrFail skips the test, or fails it under CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI is set: failing instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// sbinDirs are searched after PATH: root's programs often live there and PATH may omit them.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// Need returns the absolute paths of programs, looked up in PATH and then in the sbin
// directories. When one is missing it skips the test, or fails it when CI is set.
func Need(t testing.TB, programs ...string) map[string]string {
	t.Helper()
	paths := make(map[string]string, len(programs))
	var missing []string
	for _, p := range programs {
		if path, err := lookPath(p); err == nil {
			paths[p] = path
		} else {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		skipOrFail(t, "programs not installed: %s", strings.Join(missing, ", "))
	}
	return paths
}

func lookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return filepath.Abs(path)
	}
	if strings.ContainsRune(name, '/') {
		return "", err
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, statErr := os.Stat(p); statErr == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", err
}

// Root skips the test when it does not run as root, or fails it when CI is set.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (euid %d)", os.Geteuid())
	}
}

// need1 resolves one program or stops the test.
func need1(t testing.TB, program string) string {
	t.Helper()
	return Need(t, program)[program]
}
