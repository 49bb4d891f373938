package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// e2eModule is the module path of test/e2e; its go.mod pins the Kubernetes version.
const e2eModule = "github.com/ferrydvm/ferry/test/e2e"

// Binaries are the paths of the programs a cluster runs.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
}

// FindBinaries returns the kube-apiserver and etcd built by test/e2e/build-apiserver.sh.
// They live in ${FERRY_CACHE:-<repo>/.cache}/bin/k8s-<version>, where version is the
// k8s.io/kubernetes requirement of test/e2e/go.mod: the same rule as the script's.
// When they are missing it skips the test, or fails it when CI is set.
func FindBinaries(tb testing.TB) Binaries {
	tb.Helper()
	dir, err := binDir()
	if err != nil {
		tb.Fatalf("locate kube-apiserver and etcd: %v", err)
	}
	bins := Binaries{
		KubeAPIServer: filepath.Join(dir, "kube-apiserver"),
		Etcd:          filepath.Join(dir, "etcd"),
	}
	var missing []string
	for _, p := range []string{bins.KubeAPIServer, bins.Etcd} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		skipOrFail(tb, "kube-apiserver and etcd are not built (missing %s): run test/e2e/build-apiserver.sh "+
			"(or make e2e-bin) with the same FERRY_CACHE; a cold build takes about 5 minutes", strings.Join(missing, ", "))
	}
	return bins
}

// binDir computes the cache folder of the binaries.
func binDir() (string, error) {
	modDir, err := findModuleDir()
	if err != nil {
		return "", err
	}
	version, err := kubernetesVersion(filepath.Join(modDir, "go.mod"))
	if err != nil {
		return "", err
	}
	cache := os.Getenv("FERRY_CACHE")
	if cache == "" {
		cache = filepath.Join(modDir, "..", "..", ".cache")
	}
	abs, err := filepath.Abs(filepath.Join(cache, "bin", "k8s-"+version))
	if err != nil {
		return "", fmt.Errorf("resolve cache folder: %w", err)
	}
	return abs, nil
}

// findModuleDir returns the folder of test/e2e/go.mod. go test runs each package in its
// own folder, so it walks up from there; it falls back to this source file's location.
func findModuleDir() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if isE2EModule(filepath.Join(dir, "go.mod")) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("find go.mod of %s above %s", e2eModule, strings.Join(starts, ", "))
}

func isE2EModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == e2eModule
		}
	}
	return false
}

// kubernetesVersion returns the version of k8s.io/kubernetes that goMod requires.
func kubernetesVersion(goMod string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", fmt.Errorf("read Kubernetes version: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		// A "k8s.io/kubernetes vX" line of the require block (or a one-line require).
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(fields) >= 2 && fields[0] == "k8s.io/kubernetes" && strings.HasPrefix(fields[1], "v") {
			return fields[1], nil
		}
	}
	return "", errors.New("read Kubernetes version: no k8s.io/kubernetes requirement in " + goMod)
}

// inCI reports whether the CI environment variable asks for strict mode, where a
// missing program is a failure rather than a skip (the rule of internal/testenv).
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// skipOrFail skips the test, or fails it under CI.
func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if inCI() {
		tb.Fatalf(format+" (CI is set: failing instead of skipping)", args...)
	}
	tb.Skipf(format, args...)
}
