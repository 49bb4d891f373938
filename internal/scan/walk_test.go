package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"weak"

	"golang.org/x/sys/unix"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindFile, "file"}, {KindDir, "dir"}, {KindSymlink, "symlink"}, {KindFIFO, "fifo"},
		{KindCharDev, "chardev"}, {KindBlockDev, "blockdev"}, {KindSocket, "socket"},
		{0, "Kind(0)"}, {99, "Kind(99)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		mode uint32
		want Kind
	}{
		{unix.S_IFREG | 0o644, KindFile}, {unix.S_IFDIR | 0o7777, KindDir},
		{unix.S_IFLNK | 0o777, KindSymlink}, {unix.S_IFIFO, KindFIFO},
		{unix.S_IFCHR, KindCharDev}, {unix.S_IFBLK, KindBlockDev},
		{unix.S_IFSOCK, KindSocket}, {0o644, 0},
	}
	for _, tt := range tests {
		if got := KindOf(tt.mode); got != tt.want {
			t.Errorf("KindOf(%#o) = %v, want %v", tt.mode, got, tt.want)
		}
	}
}

func TestKeepXattr(t *testing.T) {
	tests := []struct {
		name     string
		security bool
		want     bool
	}{
		{"user.a", false, true},
		{"trusted.overlay.opaque", false, true},
		{ACLAccess, false, true},
		{ACLDefault, false, true},
		{"security.selinux", false, false},
		{"security.selinux", true, true},
		{"security.capability", true, true},
		{"system.nfs4_acl", true, false},
		{"system.data", false, false},
		{"user", false, false},
		{"other.x", true, false},
	}
	for _, tt := range tests {
		if got := keepXattr(tt.name, tt.security); got != tt.want {
			t.Errorf("keepXattr(%q, %v) = %v, want %v", tt.name, tt.security, got, tt.want)
		}
	}
}

func TestSplitNames(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"user.a\x00", []string{"user.a"}},
		{"user.a\x00trusted.b\x00", []string{"user.a", "trusted.b"}},
		{"user.a\x00\x00user.b", []string{"user.a", "user.b"}},
	}
	for _, tt := range tests {
		if got := splitNames([]byte(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("splitNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckRel(t *testing.T) {
	tests := []struct {
		rel string
		ok  bool
	}{
		{"", true}, {"a", true}, {"a/b", true}, {"a\nb/\xff", true}, {"...", true},
		{"/a", false}, {"a/", false}, {"a//b", false}, {".", false}, {"a/../b", false}, {"..", false},
	}
	for _, tt := range tests {
		err := checkRel(tt.rel)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrBadPath) {
			t.Errorf("checkRel(%q) = %v, want ok %v", tt.rel, err, tt.ok)
		}
	}
}

func TestWalkExclude(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"lost+found", "a", "a/lost+found", "b"} {
		must(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"lost+found/x", "a/lost+found/y", "b/skip.tmp", "b/keep"} {
		must(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
	}
	var asked []string
	opts := Options{Exclude: func(p string, k Kind) bool {
		asked = append(asked, p)
		return p == "lost+found" && k == KindDir || filepath.Ext(p) == ".tmp"
	}}
	got := paths(collect(t, root, opts))
	want := []string{"", "a", "a/lost+found", "a/lost+found/y", "b", "b/keep"}
	if !slices.Equal(got, want) {
		t.Errorf("walked %q, want %q", got, want)
	}
	if slices.Contains(asked, "lost+found/x") {
		t.Error("Exclude was asked about a path below an excluded directory")
	}
}

func TestWalkOneFileSystem(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	mnt := filepath.Join(root, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		skipOrFail(t, "cannot mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	must(t, os.WriteFile(filepath.Join(mnt, "inner"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "outer"), nil, 0o644))

	tests := []struct {
		one  bool
		want []string
	}{
		{false, []string{"", "mnt", "mnt/inner", "outer"}},
		{true, []string{"", "mnt", "outer"}},
	}
	for _, tt := range tests {
		if got := paths(collect(t, root, Options{OneFileSystem: tt.one})); !slices.Equal(got, tt.want) {
			t.Errorf("OneFileSystem %v: walked %q, want %q", tt.one, got, tt.want)
		}
	}
}

// TestWalkVanished removes a directory between the moment Walk has described it and the
// moment it opens it.
func TestWalkVanished(t *testing.T) {
	root := t.TempDir()
	mk := func() {
		must(t, os.MkdirAll(filepath.Join(root, "a/inner"), 0o755))
		for _, f := range []string{"b", "c"} {
			must(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
		}
	}
	mk()
	removeA := func(e *Entry) error {
		if e.Path == "a" {
			return os.RemoveAll(filepath.Join(root, "a"))
		}
		return nil
	}
	var seen []string
	var errPaths []string
	err := Walk(context.Background(), root, Options{}, func(e *Entry) error {
		seen = append(seen, e.Path)
		return removeA(e)
	}, func(p string, err error) error {
		errPaths = append(errPaths, p)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error for %q = %v, want one that is fs.ErrNotExist", p, err)
		}
		return nil
	})
	must(t, err)
	if !slices.Equal(seen, []string{"", "a", "b", "c"}) || !slices.Equal(errPaths, []string{"a"}) {
		t.Errorf("seen %q, errors for %q; want [\"\" a b c] and [a]", seen, errPaths)
	}

	mk()
	stop := errors.New("stop")
	err = Walk(context.Background(), root, Options{}, removeA, func(string, error) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Walk = %v, want the error onErr returned", err)
	}
}

func TestWalkCancelAndSkip(t *testing.T) {
	root := t.TempDir()
	makeFlat(t, root, 300)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Walk(ctx, root, Options{}, func(*Entry) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) || n != 10 {
		t.Errorf("Walk after cancel = %v after %d entries, want context.Canceled after 10", err, n)
	}

	tests := []struct {
		name   string
		ret    func(e *Entry) error
		want   int
		reterr error
	}{
		{"skip dir", func(e *Entry) error { return skipIf(e.Path == "d0001", fs.SkipDir) }, 1 + 3 + 200, nil},
		{"skip rest of dir", func(e *Entry) error { return skipIf(e.Path == "d0000/f000009", fs.SkipDir) }, 1 + 3 + 10 + 200, nil},
		{"skip all", func(e *Entry) error { return skipIf(e.Path == "d0001", fs.SkipAll) }, 1 + 1 + 100 + 1, nil},
		{"error", func(e *Entry) error { return skipIf(e.Path == "d0001", io.ErrUnexpectedEOF) }, 1 + 1 + 100 + 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		n := 0
		err := Walk(context.Background(), root, Options{}, func(e *Entry) error { n++; return tt.ret(e) }, nil)
		if n != tt.want || !errors.Is(err, tt.reterr) || err != nil && tt.reterr == nil {
			t.Errorf("%s: %d entries, error %v; want %d, %v", tt.name, n, err, tt.want, tt.reterr)
		}
	}
}

func skipIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

func TestLstatAndOpenFollowNoSymlink(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "real/sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "real/sub/f"), []byte("data"), 0o644))
	must(t, os.Symlink("real", filepath.Join(root, "link")))
	must(t, os.Symlink("real/sub/f", filepath.Join(root, "flink")))

	tests := []struct {
		rel     string
		lstatOK bool
		openOK  bool
	}{
		{"", true, true},
		{"real/sub/f", true, true},
		{"link", true, false},        // the symlink itself; opening it would follow it
		{"flink", true, false},       // idem
		{"link/sub/f", false, false}, // a symlink in the middle
		{"real/../real/sub/f", false, false},
		{"missing", false, false},
	}
	for _, tt := range tests {
		e, err := Lstat(root, tt.rel, Options{})
		if (err == nil) != tt.lstatOK {
			t.Errorf("Lstat(%q) = %v, want ok %v", tt.rel, err, tt.lstatOK)
		}
		if err == nil && e.Path != tt.rel {
			t.Errorf("Lstat(%q).Path = %q", tt.rel, e.Path)
		}
		f, err := Open(root, tt.rel)
		if (err == nil) != tt.openOK {
			t.Errorf("Open(%q) = %v, want ok %v", tt.rel, err, tt.openOK)
		}
		if err == nil {
			f.Close()
		}
	}
}

func TestOpenByComponents(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "a/b/f"), []byte("data"), 0o644))
	must(t, os.Symlink("b", filepath.Join(root, "a/l")))
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	must(t, err)
	defer unix.Close(rfd)
	tests := []struct {
		rel string
		ok  bool
	}{{"a/b/f", true}, {".", true}, {"a/l/f", false}, {"a/l", false}, {"a/x", false}}
	for _, tt := range tests {
		fd, err := openByComponents(rfd, tt.rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if (err == nil) != tt.ok {
			t.Errorf("openByComponents(%q) = %v, want ok %v", tt.rel, err, tt.ok)
		}
		if err == nil {
			unix.Close(fd)
		}
	}
}

// TestWalkWide walks a directory wider than the probe window, so that it is probed by several
// goroutines in several windows, and checks order and every entry against Lstat.
func TestWalkWide(t *testing.T) {
	root := t.TempDir()
	for i := range 3000 {
		p := filepath.Join(root, fmt.Sprintf("f%05d", 2999-i))
		must(t, os.WriteFile(p, []byte("x"), 0o644))
		if i%7 == 0 {
			must(t, unix.Lsetxattr(p, "user.n", []byte(p), 0))
		}
	}
	entries := collect(t, root, Options{})
	if len(entries) != 3001 {
		t.Fatalf("walked %d entries, want 3001", len(entries))
	}
	checkOrder(t, entries)
	for _, e := range entries {
		le, err := Lstat(root, e.Path, Options{})
		must(t, err)
		if !entriesEqual(le, e) {
			t.Errorf("%q: Lstat %+v, Walk %+v", e.Path, *le, *e)
		}
	}
}

// TestWalkFallbacks walks the fidelity tree the way older kernels and /proc-less containers
// make scan do it, and expects the same entries.
func TestWalkFallbacks(t *testing.T) {
	root := t.TempDir()
	buildFidelityTree(t, root)
	want := collect(t, root, Options{Security: true})
	saved := procFDWorks
	t.Cleanup(func() {
		procFDWorks = saved
		noXattrat.Store(false)
		noOpenat2.Store(false)
	})
	tests := []struct {
		name    string
		xattrat bool
		proc    bool
		openat2 bool
	}{
		{name: "no xattrat", proc: true, openat2: true},
		{name: "no xattrat, no proc"},
	}
	for _, tt := range tests {
		noXattrat.Store(!tt.xattrat)
		noOpenat2.Store(!tt.openat2)
		procFDWorks = func() bool { return tt.proc && saved() }
		got := collect(t, root, Options{Security: true})
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", tt.name, len(got), len(want))
		}
		for i := range got {
			if !entriesEqual(got[i], want[i]) {
				t.Errorf("%s: %+v, want %+v", tt.name, *got[i], *want[i])
			}
			le, err := Lstat(root, want[i].Path, Options{Security: true})
			must(t, err)
			le.HardLink = want[i].HardLink
			if !entriesEqual(le, want[i]) {
				t.Errorf("%s: Lstat %+v, want %+v", tt.name, *le, *want[i])
			}
		}
	}
}

func TestComparePaths(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "a", -1},
		{"a", "a/b", -1},
		{"a/b", "a-c", -1}, // plain string order would put "a-c" first: '-' < '/'
		{"a/b", "a.c", -1},
		{"a/z", "aa", -1},
		{"a/b/c", "a/b", 1},
		{"b", "a/z", 1},
		{"a\xff", "a\x01", 1},
		{"d/x", "d/x", 0},
	}
	for _, tt := range tests {
		if got := ComparePaths(tt.a, tt.b); got != tt.want {
			t.Errorf("ComparePaths(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := ComparePaths(tt.b, tt.a); got != -tt.want {
			t.Errorf("ComparePaths(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// TestWalkStreams checks that Walk holds on to no entry it has handed over: at the last entry,
// of thousands, only the few on the current path may still be alive.
func TestWalkStreams(t *testing.T) {
	root := t.TempDir()
	makeFlat(t, root, 2000)
	var seen []weak.Pointer[Entry]
	live := -1
	err := Walk(context.Background(), root, Options{}, func(e *Entry) error {
		seen = append(seen, weak.Make(e))
		if e.Path == "d0019/f001999" {
			runtime.GC()
			live = 0
			for _, w := range seen {
				if w.Value() != nil {
					live++
				}
			}
		}
		return nil
	}, nil)
	must(t, err)
	if live < 0 || live > 10 {
		t.Errorf("%d of %d entries still alive at the last one, want at most 10", live, len(seen))
	}
}

func TestWalkNoXattrs(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	must(t, os.WriteFile(f, nil, 0o644))
	must(t, unix.Lsetxattr(f, "user.k", []byte("v"), 0))
	must(t, unix.Lsetxattr(root, "user.r", []byte("v"), 0))
	for _, no := range []bool{false, true} {
		for _, e := range collect(t, root, Options{NoXattrs: no}) {
			if got := len(e.Xattrs); got != 0 == no {
				t.Errorf("NoXattrs %v: %q carries %d xattrs", no, e.Path, got)
			}
		}
	}
}

// TestLeftOut checks that an entry names the attributes it does not carry.
func TestLeftOut(t *testing.T) {
	requireRoot(t) // security.* takes CAP_SYS_ADMIN
	root := t.TempDir()
	p := filepath.Join(root, "f")
	must(t, os.WriteFile(p, nil, 0o644))
	must(t, unix.Setxattr(p, "user.kept", []byte("1"), 0))
	if err := unix.Setxattr(p, "security.ferrytest", []byte("label"), 0); err != nil {
		t.Fatalf("this file system takes no security.* attributes: %v", err)
	}
	for _, c := range []struct {
		opts Options
		want []string
	}{
		{Options{}, []string{"security.ferrytest"}},
		{Options{Security: true}, nil},
		{Options{NoXattrs: true}, []string{"security.ferrytest", "user.kept"}},
	} {
		e := byPath(collect(t, root, c.opts))["f"]
		slices.Sort(e.LeftOut)
		if !slices.Equal(e.LeftOut, c.want) {
			t.Errorf("%+v: LeftOut %q, want %q", c.opts, e.LeftOut, c.want)
		}
		if e.LeftOut != nil && len(e.LeftOut) == 0 {
			t.Errorf("%+v: LeftOut is empty but not nil", c.opts)
		}
	}
}
