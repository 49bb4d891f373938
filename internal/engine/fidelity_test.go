package engine

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/internal/treegen"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
}

func compareTrees(t *testing.T, a, b string, opts treediff.Options) {
	t.Helper()
	diffs, err := treediff.Compare(context.Background(), a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s: %s %s", d.Path, d.What, d.Detail)
	}
}

// TestFidelity copies a tree with every kind of object and attribute and compares the two
// attribute by attribute: kinds, content, owners (ids not in /etc/passwd too), modes with
// setuid/setgid/sticky, nanosecond times of files, directories and symlinks, symlink
// targets, hard-link groups across directories, holes, devices, FIFOs, xattrs, access and
// default ACLs, odd names.
func TestFidelity(t *testing.T) {
	requireRoot(t)
	src, dst := filepath.Join(t.TempDir(), "src"), t.TempDir()
	if _, err := treegen.Generate(context.Background(), src, treegen.Spec{SmallFiles: 300, LargeFiles: 1, LargeSize: 3 << 20, Seed: 9, Fidelity: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(src, "a.socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	res, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Notices, "\n"), "a.socket") {
		t.Errorf("the skipped socket is not reported: %v", res.Notices)
	}
	skipSocket := func(path string, kind scan.Kind) bool { return path == "a.socket" }
	compareTrees(t, src, dst, treediff.Options{Exclude: skipSocket})

	// A second run finds nothing to send, and the trees stay identical.
	res, err = copyTree(t, src, dst, Options{})
	if err != nil || res.Transferred != 0 {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	compareTrees(t, src, dst, treediff.Options{Exclude: skipSocket})
}

func TestSecurityXattrsOnlyWhenAsked(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "f"), "labelled")
	if err := unix.Setxattr(filepath.Join(src, "f"), "security.ferrytest", []byte("label"), 0); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("this file system takes no security.* attributes: %v", err)
		}
		t.Skipf("this file system takes no security.* attributes: %v", err)
	}
	for _, security := range []bool{false, true} {
		dst := t.TempDir()
		if _, err := copyTree(t, src, dst, Options{Security: security}); err != nil {
			t.Fatal(err)
		}
		_, err := unix.Getxattr(filepath.Join(dst, "f"), "security.ferrytest", nil)
		if (err == nil) != security {
			t.Errorf("Security %v: the target's security.ferrytest: %v", security, err)
		}
	}
}

// TestInheritedDefaultACL copies into a target whose root has a default ACL: new files and
// directories inherit it on creation, and must still end up with the source's ACLs (none).
func TestInheritedDefaultACL(t *testing.T) {
	requireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub", "deeper"), 0o755)
	for _, f := range []string{"top", "sub/f", "sub/deeper/g"} {
		write(t, filepath.Join(src, f), f)
	}
	setfacl := testenv.Need(t, "setfacl")["setfacl"]
	if out, err := exec.Command(setfacl, "-d", "-m", "u:1234:rwx", dst).CombinedOutput(); err != nil {
		t.Fatalf("setfacl: %v: %s", err, out)
	}
	if _, err := copyTree(t, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, src, dst, treediff.Options{})
}

func TestNoXattrs(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "f"), "with an attribute")
	if err := unix.Lsetxattr(filepath.Join(src, "f"), "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := copyTree(t, src, dst, Options{NoXattrs: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Llistxattr(filepath.Join(dst, "f"), nil); err != nil || n != 0 {
		t.Errorf("--no-xattrs still copied xattrs (%d bytes of names, %v)", n, err)
	}
	compareTrees(t, src, dst, treediff.Options{IgnoreXattrs: true})
}

func TestNoOwner(t *testing.T) {
	requireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "f"), "owned by someone else")
	os.Lchown(filepath.Join(src, "f"), 12345, 54321)
	if _, err := copyTree(t, src, dst, Options{NoOwner: true}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(dst, "f"), &st)
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("--no-owner still set %d:%d", st.Uid, st.Gid)
	}
	compareTrees(t, src, dst, treediff.Options{IgnoreOwner: true})
}

func TestCreateMode(t *testing.T) {
	file := func(mode uint32, xattrs ...string) *entry {
		x := &entry{Entry: scan.Entry{Kind: scan.KindFile, Mode: mode}}
		for _, n := range xattrs {
			x.Xattrs = append(x.Xattrs, scan.Xattr{Name: n, Value: []byte("v")})
		}
		return x
	}
	umask := processUmask()
	tests := []struct {
		name  string
		x     *entry
		o     Options
		fresh bool
		final bool
	}{
		{"plain file in a new directory", file(0o600), Options{}, true, true},
		{"existing directory", file(0o600), Options{}, false, false},
		{"setuid", file(0o4700), Options{}, true, false},
		{"sticky", file(0o1600), Options{}, true, false},
		{"owner cannot write: resuming would fail", file(0o400), Options{}, true, false},
		{"access ACL to set", file(0o600, scan.ACLAccess), Options{}, true, false},
		{"user xattr only", file(0o600, "user.k"), Options{}, true, true},
		{"no-xattrs: a default ACL may remain", file(0o600), Options{NoXattrs: true}, true, false},
		{"not a file", &entry{Entry: scan.Entry{Kind: scan.KindDir, Mode: 0o700}}, Options{}, true, false},
		{"a bit the umask removes", file(0o600 | umask&0o077), Options{}, true, umask&0o077 == 0},
	}
	for _, tt := range tests {
		mode, final := createMode(tt.x, tt.o, tt.fresh)
		if final != tt.final {
			t.Errorf("%s: final = %v, want %v", tt.name, final, tt.final)
		}
		if want := map[bool]uint32{true: tt.x.Mode, false: 0o600}[final]; mode != want {
			t.Errorf("%s: mode %#o, want %#o", tt.name, mode, want)
		}
	}
}

// TestDropsAreReported checks that the summary names what the options or the kind of an
// attribute kept from the target, and says nothing when nothing was dropped.
func TestDropsAreReported(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name   string
		fill   func(t *testing.T, f string)
		opts   Options
		notice string // "" for none
	}{
		{"--no-xattrs with an xattr", withXattr("user.k"), Options{NoXattrs: true}, "user.k of 1 objects (the first: \"f\") was not copied: --no-xattrs"},
		{"--no-xattrs without any", func(*testing.T, string) {}, Options{NoXattrs: true}, ""},
		{"--no-owner with another owner", owned(12345, 54321), Options{NoOwner: true}, "the owner and group of 1 objects were not kept (--no-owner)"},
		{"--no-owner with the receiver's owner", owned(0, 0), Options{NoOwner: true}, ""},
		{"a security label", withXattr("security.ferrytest"), Options{}, "security.ferrytest of 1 objects (the first: \"f\") was not copied: security labels are left to the target"},
		{"a security label with Security", withXattr("security.ferrytest"), Options{Security: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			f := filepath.Join(src, "f")
			write(t, f, "x")
			tt.fill(t, f)
			res, err := copyTree(t, src, t.TempDir(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.notice == "" && len(res.Notices) > 0 {
				t.Errorf("notices %q, want none", res.Notices)
			}
			if tt.notice != "" && (len(res.Notices) != 1 || !strings.Contains(res.Notices[0], tt.notice)) {
				t.Errorf("notices %q, want one saying %q", res.Notices, tt.notice)
			}
		})
	}
}

func withXattr(name string) func(t *testing.T, f string) {
	return func(t *testing.T, f string) {
		if err := unix.Lsetxattr(f, name, []byte("v"), 0); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
}

func owned(uid, gid int) func(t *testing.T, f string) {
	return func(t *testing.T, f string) {
		if err := os.Lchown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}
