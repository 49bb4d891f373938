package treediff

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/treegen"
	"golang.org/x/sys/unix"
)

// skipOrFail skips a test whose requirement is missing, or fails it when CI is set: CI never
// passes by skipping.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func requireRootAndPrograms(t testing.TB, programs ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root")
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			skipOrFail(t, "needs "+p)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// keepTimes records the mtimes of paths under root and returns a function that puts them back,
// so that a change shows only as the attribute it is meant to change.
func keepTimes(t testing.TB, root string, rels ...string) func() {
	t.Helper()
	times := make([]unix.Timespec, len(rels))
	for i, r := range rels {
		var st unix.Stat_t
		must(t, unix.Lstat(filepath.Join(root, r), &st))
		times[i] = st.Mtim
	}
	return func() {
		for i, r := range rels {
			ts := []unix.Timespec{times[i], times[i]}
			must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, r), ts, unix.AT_SYMLINK_NOFOLLOW))
		}
	}
}

// change runs fn on the tree and then puts back the mtimes of keep.
func change(t *testing.T, root string, fn func(t *testing.T, p func(string) string), keep ...string) {
	t.Helper()
	restore := keepTimes(t, root, keep...)
	fn(t, func(rel string) string { return filepath.Join(root, rel) })
	restore()
}

type pw struct{ path, what string }

func pairs(ds []Difference) []pw {
	var out []pw
	for _, d := range ds {
		out = append(out, pw{d.Path, d.What})
	}
	return out
}

// TestCompareCopies makes a tree with every kind of object, copies it with cp -a (which keeps
// all that Compare looks at), checks that the copy compares equal, and then that each single
// change to a fresh copy is reported as exactly that change.
func TestCompareCopies(t *testing.T) {
	requireRootAndPrograms(t, "cp", "setfacl")
	src := filepath.Join(t.TempDir(), "src")
	spec := treegen.Spec{SmallFiles: 250, LargeFiles: 1, LargeSize: 3 << 20, Seed: 7, Fidelity: true}
	_, err := treegen.Generate(context.Background(), src, spec)
	must(t, err)

	const (
		small  = "small/s0000/f000000.dat"
		large  = "large/L000.bin"
		fid    = "fidelity/"
		xfile  = fid + "xattrs/file"
		rlink  = fid + "symlinks/relative"
		sparse = fid + "sparse/middle"
	)
	tests := []struct {
		name string
		fn   func(t *testing.T, p func(string) string)
		keep []string // paths whose mtimes the change must not move
		opts Options
		want []pw
	}{
		{"identical", func(*testing.T, func(string) string) {}, nil, Options{}, nil},
		{"mode", func(t *testing.T, p func(string) string) { must(t, unix.Chmod(p(fid+"modes/setuid"), 0o755)) }, nil, Options{},
			[]pw{{fid + "modes/setuid", "mode"}}},
		{"sticky bit", func(t *testing.T, p func(string) string) { must(t, unix.Chmod(p(fid+"modes/sticky-dir"), 0o777)) }, nil, Options{},
			[]pw{{fid + "modes/sticky-dir", "mode"}}},
		{"mtime by 1ns", func(t *testing.T, p func(string) string) { addNs(t, p(small), 1) }, nil, Options{},
			[]pw{{small, "mtime"}}},
		{"dir mtime", func(t *testing.T, p func(string) string) { addNs(t, p(fid+"names"), 1000) }, nil, Options{},
			[]pw{{fid + "names", "mtime"}}},
		{"root mtime", func(t *testing.T, p func(string) string) { addNs(t, p(""), 1) }, nil, Options{}, []pw{{"", "mtime"}}},
		{"symlink mtime", func(t *testing.T, p func(string) string) { addNs(t, p(rlink), 1) }, nil, Options{}, []pw{{rlink, "mtime"}}},
		{"one byte", func(t *testing.T, p func(string) string) { writeAt(t, p(large), 1<<20, "\x00\x01") }, []string{large}, Options{},
			[]pw{{large, "content"}}},
		{"size", func(t *testing.T, p func(string) string) { must(t, os.Truncate(p(small), 4095)) }, []string{small}, Options{},
			[]pw{{small, "size"}}},
		{"xattr value", func(t *testing.T, p func(string) string) { setx(t, p(xfile), "user.text", "changed") }, nil, Options{},
			[]pw{{xfile, "xattrs"}}},
		{"xattr removed", func(t *testing.T, p func(string) string) { must(t, unix.Lremovexattr(p(xfile), "trusted.ferry")) }, nil, Options{},
			[]pw{{xfile, "xattrs"}}},
		{"symlink xattr", func(t *testing.T, p func(string) string) { setx(t, p(fid+"xattrs/link"), "trusted.link", "x") }, nil, Options{},
			[]pw{{fid + "xattrs/link", "xattrs"}}},
		{"acl", func(t *testing.T, p func(string) string) { run(t, "setfacl", "-n", "-m", "u:999:r", p(fid+"acl/file")) }, nil, Options{},
			[]pw{{fid + "acl/file", "xattrs"}}},
		{"default acl", func(t *testing.T, p func(string) string) { run(t, "setfacl", "-d", "-m", "u:999:r", p(fid+"acl/dir")) }, nil, Options{},
			[]pw{{fid + "acl/dir", "xattrs"}}},
		{"owner", func(t *testing.T, p func(string) string) { must(t, os.Lchown(p(small), 1, 1)) }, nil, Options{}, []pw{{small, "owner"}}},
		{"owner ignored", func(t *testing.T, p func(string) string) { must(t, os.Lchown(p(small), 1, 1)) }, nil, Options{IgnoreOwner: true}, nil},
		{"symlink owner", func(t *testing.T, p func(string) string) { must(t, os.Lchown(p(rlink), 1, 1)) }, nil, Options{},
			[]pw{{rlink, "owner"}}},
		{"hard link broken", breakLink, []string{fid + "hardlinks/b"}, Options{},
			[]pw{{fid + "hardlinks/b/two", "hardlink"}}},
		{"hole filled", func(t *testing.T, p func(string) string) { writeAt(t, p(sparse), 1<<20, string(make([]byte, 1<<20))) },
			[]string{sparse}, Options{}, []pw{{sparse, "holes"}}},
		{"rdev", func(t *testing.T, p func(string) string) {
			must(t, os.Remove(p(fid+"special/char")))
			must(t, unix.Mknod(p(fid+"special/char"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 8))))
			must(t, unix.Chmod(p(fid+"special/char"), 0o600))
		}, []string{fid + "special", fid + "special/char"}, Options{}, []pw{{fid + "special/char", "rdev"}}},
		{"symlink target", func(t *testing.T, p func(string) string) {
			must(t, os.Remove(p(rlink)))
			must(t, os.Symlink("elsewhere", p(rlink)))
		}, []string{fid + "symlinks", rlink}, Options{}, []pw{{rlink, "link"}}},
		{"missing file", func(t *testing.T, p func(string) string) { must(t, os.Remove(p(small))) }, []string{"small/s0000"}, Options{},
			[]pw{{small, "missing"}}},
		{"extra file", func(t *testing.T, p func(string) string) { must(t, os.WriteFile(p("small/s0000/new"), nil, 0o644)) },
			[]string{"small/s0000"}, Options{}, []pw{{"small/s0000/new", "extra"}}},
		{"missing dir", func(t *testing.T, p func(string) string) { must(t, os.RemoveAll(p(fid+"deep"))) }, []string{"fidelity"}, Options{},
			[]pw{{fid + "deep", "missing"}}},
		{"file became dir", func(t *testing.T, p func(string) string) {
			must(t, os.Remove(p(small)))
			must(t, os.MkdirAll(p(small+"/inner"), 0o755))
		}, []string{"small/s0000"}, Options{}, []pw{{small, "kind"}}},
		{"excluded", func(t *testing.T, p func(string) string) { must(t, os.WriteFile(p("junk"), nil, 0o644)) }, []string{""},
			Options{Exclude: func(path string, _ scan.Kind) bool { return path == "junk" }}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "dst")
			run(t, "cp", "-a", src, dst)
			change(t, dst, tt.fn, tt.keep...)
			diffs, err := Compare(context.Background(), src, dst, tt.opts)
			must(t, err)
			if got := pairs(diffs); !slices.Equal(got, tt.want) {
				t.Errorf("differences %v, want %v", diffs, tt.want)
			}
		})
	}
}

// breakLink replaces fidelity/hardlinks/b/two, one of three links, by a copy of its own.
func breakLink(t *testing.T, p func(string) string) {
	two := p("fidelity/hardlinks/b/two")
	must(t, os.Remove(two))
	run(t, "cp", "-a", p("fidelity/hardlinks/a/one"), two)
}

func addNs(t *testing.T, path string, ns int64) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	ts := unix.NsecToTimespec(st.Mtim.Nano() + ns)
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
}

func writeAt(t *testing.T, path string, off int64, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt([]byte(data), off)
	must(t, err)
	must(t, f.Close())
}

func setx(t *testing.T, path, name, value string) {
	t.Helper()
	must(t, unix.Lsetxattr(path, name, []byte(value), 0))
}

func TestCompareDetails(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	must(t, os.MkdirAll(filepath.Join(a, "gone/x/y"), 0o755))
	must(t, os.WriteFile(filepath.Join(a, "f"), []byte("abc"), 0o644))
	must(t, os.WriteFile(filepath.Join(b, "f"), []byte("abd"), 0o644))
	for _, r := range []string{"", "f"} { // same mtimes, so only the content and "gone" differ
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(a, r), []unix.Timespec{{Sec: 1}, {Sec: 1}}, 0))
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(b, r), []unix.Timespec{{Sec: 1}, {Sec: 1}}, 0))
	}
	diffs, err := Compare(context.Background(), a, b, Options{})
	must(t, err)
	want := []Difference{
		{Path: "f", What: "content"},
		{Path: "gone", What: "missing", Detail: "dir with 2 entries below it"},
	}
	if len(diffs) != len(want) {
		t.Fatalf("differences %v, want %v", diffs, want)
	}
	for i, d := range diffs {
		if d.Path != want[i].Path || d.What != want[i].What || want[i].Detail != "" && d.Detail != want[i].Detail {
			t.Errorf("difference %v, want %v", d, want[i])
		}
	}
}

func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Compare(context.Background(), filepath.Join(dir, "none"), dir, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Compare of a missing root = %v, want a not-exist error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Compare(ctx, dir, dir, Options{}); err != context.Canceled {
		t.Errorf("Compare with a cancelled context = %v, want context.Canceled", err)
	}
}
