package treegen

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/treediff"
	"golang.org/x/sys/unix"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// skipOrFail skips, or fails when CI is set: CI never passes by skipping.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// testSpec has a bit of everything; Fidelity only as root.
func testSpec(seed int64) Spec {
	return Spec{SmallFiles: 250, SmallSize: 1000, LargeFiles: 2, LargeSize: 2<<20 + 123, Seed: seed,
		Fidelity: os.Geteuid() == 0}
}

func generate(t *testing.T, s Spec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	_, err := Generate(context.Background(), dir, s)
	must(t, err)
	return dir
}

func compare(t *testing.T, a, b string) []treediff.Difference {
	t.Helper()
	diffs, err := treediff.Compare(context.Background(), a, b, treediff.Options{})
	must(t, err)
	return diffs
}

func TestGenerateIsDeterministic(t *testing.T) {
	s := testSpec(42)
	a := generate(t, s)
	b := generate(t, s)
	if diffs := compare(t, a, b); len(diffs) != 0 {
		t.Errorf("two trees from one Spec differ: %v", diffs)
	}
	other := s
	other.Seed = 43
	for _, d := range compare(t, a, generate(t, other)) {
		if d.What != "content" {
			t.Errorf("another seed should change content only, got %v", d)
		}
	}
}

// TestGenerateStats checks Stats against what a walk of the tree finds.
func TestGenerateStats(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	got, err := Generate(context.Background(), dir, testSpec(1))
	must(t, err)
	var want Stats
	err = scan.Walk(context.Background(), dir, scan.Options{}, func(e *scan.Entry) error {
		switch e.Kind {
		case scan.KindFile:
			want.Files++
			want.Bytes += e.Size
		case scan.KindDir:
			want.Dirs++
		case scan.KindSymlink:
			want.Symlinks++
		default:
			want.Special++
		}
		return nil
	}, nil)
	must(t, err)
	if got != want {
		t.Errorf("Stats %+v, the tree has %+v", got, want)
	}
	if got.Files < 250+2 || got.Bytes < 250*1000+2*(2<<20) {
		t.Errorf("Stats %+v: fewer files or bytes than asked for", got)
	}
}

func TestGenerateFidelityObjects(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root")
	}
	dir := generate(t, Spec{Fidelity: true})
	want := map[string]func(e *scan.Entry) bool{
		"fidelity/modes/setuid":                        func(e *scan.Entry) bool { return e.Mode == 0o4755 },
		"fidelity/modes/sticky-dir":                    func(e *scan.Entry) bool { return e.Mode == 0o1777 },
		"fidelity/owners/setuid-owned":                 func(e *scan.Entry) bool { return e.Mode == 0o4750 && e.UID == 12345 },
		"fidelity/owners/link":                         func(e *scan.Entry) bool { return e.Kind == scan.KindSymlink && e.UID == 34567 },
		"fidelity/special/fifo":                        func(e *scan.Entry) bool { return e.Kind == scan.KindFIFO },
		"fidelity/special/block":                       func(e *scan.Entry) bool { return e.Rdev == unix.Mkdev(7, 200) },
		"fidelity/hardlinks/three":                     func(e *scan.Entry) bool { return e.Nlink == 3 },
		"fidelity/sparse/multi":                        func(e *scan.Entry) bool { return e.Sparse && e.Size == 32<<20 },
		"fidelity/sparse/all-hole":                     func(e *scan.Entry) bool { return e.Sparse && e.Blocks == 0 },
		"fidelity/xattrs/link":                         func(e *scan.Entry) bool { return len(e.Xattrs) == 1 },
		"fidelity/xattrs/file":                         func(e *scan.Entry) bool { return len(e.Xattrs) == 5 },
		"fidelity/acl/dir":                             func(e *scan.Entry) bool { return len(e.Xattrs) == 2 },
		"fidelity/acl/dir/inherited":                   func(e *scan.Entry) bool { return len(e.Xattrs) == 1 },
		"fidelity/names/new\nline":                     func(e *scan.Entry) bool { return e.Size == 8 },
		"fidelity/deep" + repeat("/d", 99):             func(e *scan.Entry) bool { return e.Kind == scan.KindDir },
		"fidelity/symlinks/long-target":                func(e *scan.Entry) bool { return len(e.Link) == 1003 },
		"fidelity/owners/max":                          func(e *scan.Entry) bool { return e.UID == 4294967294 },
		"fidelity/modes/setuid-setgid-sticky":          func(e *scan.Entry) bool { return e.Mode == 0o7777 },
		"fidelity/names/" + repeat("n", 255):           func(e *scan.Entry) bool { return e.Kind == scan.KindFile },
		"fidelity/names/\xff\xfe-not-utf8":             func(e *scan.Entry) bool { return e.Kind == scan.KindFile },
		"fidelity/symlinks/odd-target":                 func(e *scan.Entry) bool { return e.Link == "odd\ntarget\xff" },
		"fidelity/special/char-big":                    func(e *scan.Entry) bool { return e.Rdev == unix.Mkdev(4095, 1048575) },
		"fidelity/hardlinks/pair-2":                    func(e *scan.Entry) bool { return e.Nlink == 2 },
		"fidelity/modes/empty":                         func(e *scan.Entry) bool { return e.Size == 0 },
		"fidelity/sparse/middle":                       func(e *scan.Entry) bool { return e.Blocks*512 <= 64<<10 },
		"fidelity/symlinks/to-dir":                     func(e *scan.Entry) bool { return e.Kind == scan.KindSymlink },
		"fidelity/xattrs/dir":                          func(e *scan.Entry) bool { return e.Kind == scan.KindDir && len(e.Xattrs) == 1 },
		"fidelity/acl/file":                            func(e *scan.Entry) bool { return e.Xattrs[0].Name == scan.ACLAccess },
		"fidelity/deep" + repeat("/d", 99) + "/bottom": func(e *scan.Entry) bool { return e.Size == 21 },
	}
	for p, check := range want {
		e, err := scan.Lstat(dir, p, scan.Options{})
		if err != nil {
			t.Errorf("%q: %v", p, err)
			continue
		}
		if !check(e) {
			t.Errorf("%q: unexpected %+v", p, *e)
		}
	}
}

func repeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

// TestACLEncoding checks the raw ACLs against what setfacl writes for the same ACL.
func TestACLEncoding(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root")
	}
	if _, err := exec.LookPath("setfacl"); err != nil {
		skipOrFail(t, "needs setfacl")
	}
	dir := t.TempDir()
	tests := []struct {
		name, args, xattr string
		want              []byte
	}{
		{"file", "u::rw-,u:12345:r--,g::r--,g:54321:rw-,m::rw-,o::r--", scan.ACLAccess, fileACL},
		{"dir", "u::rwx,u:12345:rwx,g::r-x,m::rwx,o::r-x", scan.ACLAccess, dirACL},
		{"default", "u::rwx,u:12345:rwx,g::r-x,g:54321:r-x,m::rwx,o::---", scan.ACLAccess, defaultACL},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name)
		must(t, os.WriteFile(p, nil, 0o644))
		if out, err := exec.Command("setfacl", "--set", tt.args, p).CombinedOutput(); err != nil {
			t.Fatalf("setfacl: %v: %s", err, out)
		}
		got := make([]byte, 256)
		n, err := unix.Getxattr(p, tt.xattr, got)
		must(t, err)
		if !bytes.Equal(got[:n], tt.want) {
			t.Errorf("%s: setfacl wrote %x, encodeACL gives %x", tt.name, got[:n], tt.want)
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o644))
	if _, err := Generate(context.Background(), dir, Spec{SmallFiles: 1}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Generate into a non-empty directory = %v, want ErrNotEmpty", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, filepath.Join(dir, "new"), Spec{SmallFiles: 1000})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestMutate(t *testing.T) {
	s := testSpec(5)
	a, b := generate(t, s), generate(t, s)
	m, err := MutateReport(b, 6, 99)
	must(t, err)
	if len(m.Modified) != 6 || len(m.Added) != 6 || len(m.Removed) != 6 || m.Replaced == "" {
		t.Fatalf("mutation %+v, want 6 of each and a replaced file", m)
	}
	got := map[string][]string{}
	for _, d := range compare(t, a, b) {
		got[d.Path] = append(got[d.Path], d.What)
	}
	expect := func(p string, ok func([]string) bool, want string) {
		if !ok(got[p]) {
			t.Errorf("%q: differences %q, want %s", p, got[p], want)
		}
		delete(got, p)
	}
	for _, p := range m.Modified {
		expect(p, func(w []string) bool {
			return slices.Equal(w, []string{"mtime", "content"}) || slices.Equal(w, []string{"mtime", "size"})
		}, "mtime and content or size")
	}
	for _, p := range m.Added {
		expect(p, func(w []string) bool { return slices.Equal(w, []string{"extra"}) }, "extra")
	}
	for _, p := range m.Removed {
		expect(p, func(w []string) bool { return slices.Equal(w, []string{"missing"}) }, "missing")
	}
	expect(m.Replaced, func(w []string) bool { return slices.Equal(w, []string{"kind"}) }, "kind")
	for p, w := range got { // what is left: directories whose entries changed
		if fi, err := os.Lstat(filepath.Join(b, p)); err != nil || !fi.IsDir() || !slices.Equal(w, []string{"mtime"}) {
			t.Errorf("%q: unexpected differences %q", p, w)
		}
	}

	must(t, Mutate(a, 6, 99))
	if diffs := compare(t, a, b); len(diffs) != 0 {
		t.Errorf("Mutate with one seed on two equal trees made them differ: %v", diffs)
	}
	if err := Mutate(generate(t, Spec{SmallFiles: 3}), 2, 1); err == nil {
		t.Error("Mutate of 3 files with n=2 succeeded, want an error: it needs 5")
	}
}
