package treediff

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/internal/scan"
	"golang.org/x/sys/unix"
)

func TestCompareEntries(t *testing.T) {
	file := scan.Entry{Path: "f", Kind: scan.KindFile, Mode: 0o644, UID: 1, GID: 2, Size: 1 << 20,
		Mtime: 1e18, Xattrs: []scan.Xattr{{Name: "user.a", Value: []byte("1")}}, Blocks: 2048}
	sparse := file
	sparse.Sparse, sparse.Blocks = true, 16
	link := scan.Entry{Path: "l", Kind: scan.KindSymlink, Mode: 0o777, Link: "t", Mtime: 5}
	dev := scan.Entry{Path: "d", Kind: scan.KindCharDev, Mode: 0o600, Rdev: unix.Mkdev(1, 3)}
	tests := []struct {
		name   string
		a      scan.Entry
		change func(e *scan.Entry)
		opts   Options
		want   []string
	}{
		{"same", file, func(*scan.Entry) {}, Options{}, nil},
		{"mode", file, func(e *scan.Entry) { e.Mode = 0o4644 }, Options{}, []string{"mode"}},
		{"uid", file, func(e *scan.Entry) { e.UID = 0 }, Options{}, []string{"owner"}},
		{"gid ignored", file, func(e *scan.Entry) { e.GID = 0 }, Options{IgnoreOwner: true}, nil},
		{"mtime by 1ns", file, func(e *scan.Entry) { e.Mtime++ }, Options{}, []string{"mtime"}},
		{"size", file, func(e *scan.Entry) { e.Size-- }, Options{}, []string{"size"}},
		{"xattr value", file, func(e *scan.Entry) { e.Xattrs = []scan.Xattr{{Name: "user.a", Value: []byte("2")}} }, Options{}, []string{"xattrs"}},
		{"xattr gone", file, func(e *scan.Entry) { e.Xattrs = nil }, Options{}, []string{"xattrs"}},
		{"hardlink", file, func(e *scan.Entry) { e.HardLink = "g" }, Options{}, []string{"hardlink"}},
		{"identity ignored", file, func(e *scan.Entry) { e.Dev, e.Ino, e.Nlink, e.Blocks = 9, 9, 9, 9 }, Options{}, nil},
		{"dense copy of sparse", sparse, func(e *scan.Entry) { e.Sparse, e.Blocks = false, 2048 }, Options{}, []string{"holes"}},
		{"within slack", sparse, func(e *scan.Entry) { e.Blocks += holeSlack / 512 }, Options{}, nil},
		{"sparser copy", file, func(e *scan.Entry) { e.Sparse, e.Blocks = true, 8 }, Options{}, nil},
		{"symlink mode ignored", link, func(e *scan.Entry) { e.Mode = 0o755 }, Options{}, nil},
		{"symlink target", link, func(e *scan.Entry) { e.Link = "u" }, Options{}, []string{"link"}},
		{"symlink mtime", link, func(e *scan.Entry) { e.Mtime = 6 }, Options{}, []string{"mtime"}},
		{"rdev", dev, func(e *scan.Entry) { e.Rdev = unix.Mkdev(1, 5) }, Options{}, []string{"rdev"}},
		{"two at once", file, func(e *scan.Entry) { e.Mode, e.Size = 0, 0 }, Options{}, []string{"mode", "size"}},
	}
	for _, tt := range tests {
		b := tt.a
		tt.change(&b)
		var got []string
		for _, d := range compareEntries(&tt.a, &b, tt.opts) {
			got = append(got, d.What)
			if d.Path != tt.a.Path || d.Detail == "" {
				t.Errorf("%s: bad difference %+v", tt.name, d)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: differences %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestXattrDiff(t *testing.T) {
	x := func(kv ...string) []scan.Xattr {
		var out []scan.Xattr
		for i := 0; i < len(kv); i += 2 {
			out = append(out, scan.Xattr{Name: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	tests := []struct {
		a, b []scan.Xattr
		want string
	}{
		{nil, nil, ""},
		{x("user.a", "1"), x("user.a", "1"), ""},
		{x("user.a", ""), nil, "user.a only in a"},
		{nil, x("user.b", "2"), "user.b only in b"},
		{x("user.a", "1", "user.c", "3"), x("user.b", "2", "user.c", "4"),
			`user.a only in a; user.b only in b; user.c: "3" != "4"`},
		{x("user.a", strings.Repeat("v", 40)), x("user.a", ""), `user.a: "` + strings.Repeat("v", 32) + `..." != ""`},
	}
	for _, tt := range tests {
		if got := xattrDiff(tt.a, tt.b); got != tt.want {
			t.Errorf("xattrDiff(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBelow(t *testing.T) {
	tests := []struct {
		dir, p string
		want   bool
	}{
		{"", "a", true}, {"", "", false}, {"a", "a/b", true}, {"a", "a", false},
		{"a", "ab/c", false}, {"a/b", "a/b/c/d", true},
	}
	for _, tt := range tests {
		if got := below(tt.dir, tt.p); got != tt.want {
			t.Errorf("below(%q, %q) = %v, want %v", tt.dir, tt.p, got, tt.want)
		}
	}
}
