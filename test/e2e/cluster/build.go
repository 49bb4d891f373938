package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// Build builds a program of this module (pkg: an import path or "./cmd/...") for the
// running test binary, into ${FERRY_CACHE:-<repo>/.cache}/e2e-bin/<pid>/<name>, and
// returns its path. Folders left by test processes that have ended are removed first.
// Callers build once per test binary (sync.Once).
func Build(pkg, name string) (string, error) {
	modDir, err := findModuleDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	cache := os.Getenv("FERRY_CACHE")
	if cache == "" {
		cache = filepath.Join(modDir, "..", "..", ".cache")
	}
	base, err := filepath.Abs(filepath.Join(cache, "e2e-bin"))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	olds, _ := os.ReadDir(base)
	for _, d := range olds {
		if pid, err := strconv.Atoi(d.Name()); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(filepath.Join(base, d.Name()))
		}
	}
	path := filepath.Join(base, strconv.Itoa(os.Getpid()), name)
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = modDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v: %s", name, err, out)
	}
	return path, nil
}
