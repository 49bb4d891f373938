package scan

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/xattr"
	"golang.org/x/sys/unix"
)

// Times set on objects of the fidelity tree, with nanoseconds that a microsecond API would lose.
var (
	t0 = time.Date(2020, 2, 29, 12, 0, 0, 123456789, time.UTC).UnixNano()
	t1 = t0 + 86400e9 + 1
	t2 = t0 - 365*86400e9 + 999999999
)

const deepness = 100

var name255 = strings.Repeat("n", 255)

// deepPath is the path of the directory at the bottom of the 100-deep chain.
var deepPath = "deep" + strings.Repeat("/d", deepness-1)

// buildFidelityTree makes, with real syscalls, a tree holding every kind of object and every
// attribute scan captures. It returns whether a security.* attribute could be set.
func buildFidelityTree(t *testing.T, root string) (security bool) {
	t.Helper()
	requireRoot(t)
	requireProgram(t, "setfacl")
	p := func(rel string) string { return filepath.Join(root, rel) }

	writeFile(t, p("file"), "hello\n", 0o644)
	writeFile(t, p("suid"), "#!/bin/sh\n", 0o4755)
	writeFile(t, p("sgid"), "", 0o2750)
	writeFile(t, p("none"), "", 0)
	mkdir(t, p("sticky"), 0o1777)
	writeFile(t, p("owner"), "owned", 0o640)
	must(t, os.Lchown(p("owner"), 12345, 54321))
	mkdir(t, p("lost+found"), 0o700)

	must(t, unix.Mkfifo(p("fifo"), 0o600))
	must(t, unix.Chmod(p("fifo"), 0o620))
	must(t, unix.Mknod(p("chr"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(p("blk"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
	makeSocket(t, p("sock"))

	mkdir(t, p("links"), 0o755)
	mkdir(t, p("links/a"), 0o755)
	mkdir(t, p("links/b"), 0o755)
	writeFile(t, p("links/a/one"), "linked", 0o644)
	must(t, os.Link(p("links/a/one"), p("links/b/two")))
	must(t, os.Link(p("links/a/one"), p("links/three")))

	must(t, os.Symlink("file", p("sym-rel")))
	must(t, os.Symlink("links", p("sym-dir")))
	must(t, os.Symlink("nowhere/\xff", p("sym-dangling")))
	must(t, os.Symlink("/etc/passwd", p("sym-abs")))
	must(t, os.Lchown(p("sym-abs"), 2222, 3333))
	must(t, unix.Lsetxattr(p("sym-rel"), "trusted.link", []byte("on the link"), 0))

	writeFile(t, p("xattrs"), "x", 0o644)
	must(t, unix.Lsetxattr(p("xattrs"), "user.a", []byte("1"), 0))
	must(t, unix.Lsetxattr(p("xattrs"), "user.empty", nil, 0))
	must(t, unix.Lsetxattr(p("xattrs"), "trusted.bin", []byte{0, 1, 0xff}, 0))
	must(t, unix.Lsetxattr(p("xattrs"), "user.big", bytes.Repeat([]byte("v"), 3000), 0))
	security = unix.Lsetxattr(p("xattrs"), "security.ferrytest", []byte("s"), 0) == nil

	writeFile(t, p("acl-file"), "acl", 0o640)
	run(t, "setfacl", "-m", "u:12345:r,g:54321:rw", p("acl-file"))
	mkdir(t, p("acl-dir"), 0o750)
	run(t, "setfacl", "-m", "u:12345:rwx", "-d", "-m", "u:12345:rwx,g::r-x", p("acl-dir"))

	makeSparse(t, p("sparse"))

	mkdir(t, p("names"), 0o755)
	for _, n := range []string{"\xff\xfe", "new\nline", name255} {
		writeFile(t, p("names/"+n), n, 0o644)
	}
	must(t, os.MkdirAll(p(deepPath), 0o755))
	writeFile(t, p(deepPath+"/leaf"), "bottom", 0o644)

	setMtime(t, p("file"), t1)
	setMtime(t, p("sym-rel"), t2)
	setMtime(t, p("links/b/two"), t1)
	setMtime(t, p("sticky"), t2)
	setMtime(t, root, t0)
	return security
}

func makeSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, unix.Bind(fd, &unix.SockaddrUnix{Name: path}))
}

// makeSparse makes a 16 MiB file with 4 KiB of data at 8 MiB.
func makeSparse(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(16<<20))
	_, err = f.WriteAt(bytes.Repeat([]byte("z"), 4096), 8<<20)
	must(t, err)
}

// aclHasUser reports whether a raw POSIX ACL xattr value names uid in an ACL_USER entry.
func aclHasUser(v []byte, uid uint32) bool {
	const aclUser = 0x02
	for i := 4; i+8 <= len(v); i += 8 {
		tag := binary.LittleEndian.Uint16(v[i:])
		id := binary.LittleEndian.Uint32(v[i+4:])
		if tag == aclUser && id == uid {
			return true
		}
	}
	return false
}

func xattrNames(xs []Xattr) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.Name)
	}
	return out
}

func TestWalkFidelity(t *testing.T) {
	root := t.TempDir()
	security := buildFidelityTree(t, root)
	entries := collect(t, root, Options{Security: true})
	m := byPath(entries)

	tests := []struct {
		path   string
		check  func(e *Entry) bool
		expect string
	}{
		{"", func(e *Entry) bool { return e.Kind == KindDir && e.Mtime == t0 }, "root dir with mtime t0"},
		{"file", func(e *Entry) bool { return e.Kind == KindFile && e.Size == 6 && e.Mtime == t1 && e.Mode == 0o644 }, "6-byte file, mtime t1"},
		{"suid", func(e *Entry) bool { return e.Mode == 0o4755 }, "mode 4755"},
		{"sgid", func(e *Entry) bool { return e.Mode == 0o2750 }, "mode 2750"},
		{"none", func(e *Entry) bool { return e.Mode == 0 }, "mode 0"},
		{"sticky", func(e *Entry) bool { return e.Kind == KindDir && e.Mode == 0o1777 && e.Mtime == t2 }, "sticky dir, mtime t2"},
		{"owner", func(e *Entry) bool { return e.UID == 12345 && e.GID == 54321 }, "owner 12345:54321"},
		{"fifo", func(e *Entry) bool { return e.Kind == KindFIFO && e.Mode == 0o620 }, "fifo 620"},
		{"chr", func(e *Entry) bool { return e.Kind == KindCharDev && e.Rdev == unix.Mkdev(1, 3) }, "char device 1,3"},
		{"blk", func(e *Entry) bool { return e.Kind == KindBlockDev && e.Rdev == unix.Mkdev(7, 200) }, "block device 7,200"},
		{"sock", func(e *Entry) bool { return e.Kind == KindSocket }, "socket"},
		{"links/a/one", func(e *Entry) bool { return e.HardLink == "" && e.Nlink == 3 && e.Mtime == t1 }, "first of its group"},
		{"links/b/two", func(e *Entry) bool { return e.HardLink == "links/a/one" }, "linked to links/a/one"},
		{"links/three", func(e *Entry) bool { return e.HardLink == "links/a/one" }, "linked to links/a/one"},
		{"sym-rel", func(e *Entry) bool {
			return e.Kind == KindSymlink && e.Link == "file" && e.Mtime == t2 && e.Size == 0 &&
				slices.Equal(xattrNames(e.Xattrs), []string{"trusted.link"})
		}, "symlink to file with its own mtime t2 and xattr"},
		{"sym-dir", func(e *Entry) bool { return e.Kind == KindSymlink && e.Link == "links" }, "symlink to links"},
		{"sym-dangling", func(e *Entry) bool { return e.Link == "nowhere/\xff" }, "dangling symlink"},
		{"sym-abs", func(e *Entry) bool { return e.Link == "/etc/passwd" && e.UID == 2222 && e.GID == 3333 }, "absolute symlink owned 2222:3333"},
		{"xattrs", func(e *Entry) bool {
			want := []string{"trusted.bin", "user.a", "user.big", "user.empty"}
			if security {
				want = append([]string{"security.ferrytest"}, want...)
			}
			return slices.Equal(xattrNames(e.Xattrs), want) &&
				bytes.Equal(e.Xattrs[len(want)-4].Value, []byte{0, 1, 0xff}) &&
				len(e.Xattrs[len(want)-2].Value) == 3000 && len(e.Xattrs[len(want)-1].Value) == 0
		}, "sorted xattrs with their values"},
		{"acl-file", func(e *Entry) bool {
			return slices.Equal(xattrNames(e.Xattrs), []string{ACLAccess}) && aclHasUser(e.Xattrs[0].Value, 12345)
		}, "access ACL naming uid 12345"},
		{"acl-dir", func(e *Entry) bool {
			return slices.Equal(xattrNames(e.Xattrs), []string{ACLAccess, ACLDefault}) && aclHasUser(e.Xattrs[1].Value, 12345)
		}, "access and default ACLs"},
		{"sparse", func(e *Entry) bool { return e.Sparse && e.Size == 16<<20 }, "sparse 16 MiB"},
		{"file", func(e *Entry) bool { return !e.Sparse }, "not sparse"},
		{"names/\xff\xfe", func(e *Entry) bool { return e.Size == 2 }, "invalid UTF-8 name"},
		{"names/new\nline", func(e *Entry) bool { return e.Size == 8 }, "name with a newline"},
		{"names/" + name255, func(e *Entry) bool { return e.Size == 255 }, "255-byte name"},
		{deepPath + "/leaf", func(e *Entry) bool { return e.Size == 6 }, "leaf 100 directories deep"},
	}
	for _, tt := range tests {
		e, ok := m[tt.path]
		if !ok {
			t.Errorf("%q: not walked", tt.path)
			continue
		}
		if !tt.check(e) {
			t.Errorf("%q: want %s, got %+v", tt.path, tt.expect, *e)
		}
	}
	for _, p := range []string{"sym-dir/a", "sym-dir/three"} {
		if _, ok := m[p]; ok {
			t.Errorf("walk followed a symlink: %q", p)
		}
	}
	checkOrder(t, entries)
	for _, e := range entries {
		checkAgainstOS(t, root, e, security)
	}
}

// walkBefore reports whether a comes before b in walk order: component by component,
// bytewise. It is the slow, obvious version of ComparePaths, which it also checks.
func walkBefore(a, b string) bool {
	slow := strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
	if fast := ComparePaths(a, b) < 0; fast != slow {
		panic("ComparePaths disagrees with the slow version on " + a + " and " + b)
	}
	return slow
}

func checkOrder(t *testing.T, entries []*Entry) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range entries {
		if i > 0 && !walkBefore(entries[i-1].Path, e.Path) {
			t.Errorf("walk order: %q before %q", entries[i-1].Path, e.Path)
		}
		if e.Path != "" {
			dir, _ := splitLast(e.Path)
			if !seen[dir] {
				t.Errorf("%q visited before its directory", e.Path)
			}
		}
		seen[e.Path] = true
	}
}

// checkAgainstOS compares an entry with what os.Lstat, github.com/pkg/xattr and Lstat report.
func checkAgainstOS(t *testing.T, root string, e *Entry, security bool) {
	t.Helper()
	full := filepath.Join(root, e.Path)
	fi, err := os.Lstat(full)
	must(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	if e.Mode != st.Mode&0o7777 || e.UID != st.Uid || e.GID != st.Gid || e.Mtime != fi.ModTime().UnixNano() {
		t.Errorf("%q: entry %+v, os.Lstat mode %o uid %d gid %d mtime %d", e.Path, *e, st.Mode, st.Uid, st.Gid, fi.ModTime().UnixNano())
	}
	if e.Kind == KindFile && e.Size != fi.Size() {
		t.Errorf("%q: size %d, os.Lstat %d", e.Path, e.Size, fi.Size())
	}
	names, err := xattr.LList(full)
	must(t, err)
	var want []string
	for _, n := range names {
		if keepXattr(n, security) {
			want = append(want, n)
		}
	}
	slices.Sort(want)
	if got := xattrNames(e.Xattrs); !slices.Equal(got, want) {
		t.Errorf("%q: xattrs %q, pkg/xattr %q", e.Path, got, want)
	}
	le, err := Lstat(root, e.Path, Options{Security: true})
	must(t, err)
	le.HardLink = e.HardLink
	if !entriesEqual(le, e) {
		t.Errorf("%q: Lstat %+v, Walk %+v", e.Path, *le, *e)
	}
}

func entriesEqual(a, b *Entry) bool {
	ca, cb := *a, *b
	ca.Xattrs, cb.Xattrs = nil, nil
	return reflect.DeepEqual(ca, cb) && slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool {
		return x.Name == y.Name && bytes.Equal(x.Value, y.Value)
	})
}

func TestDataExtents(t *testing.T) {
	dir := t.TempDir()
	makeSparse(t, filepath.Join(dir, "sparse"))
	must(t, os.WriteFile(filepath.Join(dir, "dense"), bytes.Repeat([]byte("d"), 10000), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
	tests := []struct {
		name string
		size int64
		want []Extent
	}{
		{"sparse", 16 << 20, []Extent{{8 << 20, 4096}}},
		{"sparse", 8 << 20, nil},
		{"sparse", 8<<20 + 100, []Extent{{8 << 20, 100}}},
		{"dense", 10000, []Extent{{0, 10000}}},
		{"empty", 0, nil},
	}
	for _, tt := range tests {
		f, err := os.Open(filepath.Join(dir, tt.name))
		must(t, err)
		_, err = f.Seek(5, 0)
		must(t, err)
		got, err := DataExtents(f, tt.size)
		must(t, err)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s size %d: extents %v, want %v", tt.name, tt.size, got, tt.want)
		}
		if off, _ := f.Seek(0, 1); off != 5 {
			t.Errorf("%s: offset %d after DataExtents, want 5", tt.name, off)
		}
		f.Close()
	}
}
