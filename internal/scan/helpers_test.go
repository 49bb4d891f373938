package scan

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs root, or fails it when CI is set: CI never passes by
// skipping.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root")
	}
}

// requireProgram does the same for a program the test runs.
func requireProgram(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		skipOrFail(t, "needs "+name+" (install the package that provides it)")
	}
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// writeFile creates a file with content and sets its mode exactly (umask aside).
func writeFile(t testing.TB, path, content string, mode uint32) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), 0o600))
	must(t, unix.Chmod(path, mode))
}

func mkdir(t testing.TB, path string, mode uint32) {
	t.Helper()
	must(t, os.Mkdir(path, 0o700))
	must(t, unix.Chmod(path, mode))
}

// setMtime sets the mtime (and atime) of path itself, symlinks included.
func setMtime(t testing.TB, path string, ns int64) {
	t.Helper()
	ts := unix.NsecToTimespec(ns)
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
}

// collect walks root and returns the entries in walk order.
func collect(t testing.TB, root string, opts Options) []*Entry {
	t.Helper()
	var out []*Entry
	err := Walk(context.Background(), root, opts, func(e *Entry) error {
		out = append(out, e)
		return nil
	}, nil)
	must(t, err)
	return out
}

func byPath(entries []*Entry) map[string]*Entry {
	m := make(map[string]*Entry, len(entries))
	for _, e := range entries {
		m[e.Path] = e
	}
	return m
}

func paths(entries []*Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	return out
}

// makeFlat creates n empty-ish files spread over directories of 100.
func makeFlat(t testing.TB, root string, n int) {
	t.Helper()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			must(t, os.Mkdir(dir, 0o755))
		}
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d", i)), []byte("x"), 0o644))
	}
}
