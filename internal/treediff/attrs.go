package treediff

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydvm/ferry/internal/scan"
	"golang.org/x/sys/unix"
)

// holeSlack is how many more bytes b may allocate than a for a file with holes in a: file
// systems differ in how they round extents and where they put their metadata.
const holeSlack = 64 << 10

// compareEntries compares the attributes of two entries of the same path and kind that can be
// compared without reading the files.
func compareEntries(a, b *scan.Entry, opts Options) []Difference {
	var ds []Difference
	add := func(what, format string, args ...any) {
		ds = append(ds, Difference{Path: a.Path, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	if a.Kind != scan.KindSymlink && a.Mode != b.Mode { // a symlink's mode means nothing
		add("mode", "%04o != %04o", a.Mode, b.Mode)
	}
	if !opts.IgnoreOwner && (a.UID != b.UID || a.GID != b.GID) {
		add("owner", "%d:%d != %d:%d", a.UID, a.GID, b.UID, b.GID)
	}
	if a.Mtime != b.Mtime {
		add("mtime", "%s != %s", fmtTime(a.Mtime), fmtTime(b.Mtime))
	}
	if a.Kind == scan.KindFile && a.Size != b.Size {
		add("size", "%d != %d", a.Size, b.Size)
	}
	if a.Link != b.Link {
		add("link", "%q != %q", a.Link, b.Link)
	}
	if d := xattrDiff(a.Xattrs, b.Xattrs); d != "" {
		add("xattrs", "%s", d)
	}
	if a.Rdev != b.Rdev {
		add("rdev", "%s != %s", fmtDev(a.Rdev), fmtDev(b.Rdev))
	}
	if a.HardLink != b.HardLink {
		add("hardlink", "%s != %s", fmtLink(a.HardLink), fmtLink(b.HardLink))
	}
	if a.Kind == scan.KindFile && a.Sparse && b.Blocks*512 > a.Blocks*512+holeSlack {
		add("holes", "%d bytes allocated != %d (holes filled)", a.Blocks*512, b.Blocks*512)
	}
	return ds
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func fmtDev(dev uint64) string { return fmt.Sprintf("%d,%d", unix.Major(dev), unix.Minor(dev)) }

func fmtLink(first string) string {
	if first == "" {
		return "first of its link group"
	}
	return fmt.Sprintf("linked to %q", first)
}

// xattrDiff describes how two sorted xattr lists differ, or returns "".
func xattrDiff(a, b []scan.Xattr) string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Name < b[j].Name:
			out = append(out, a[i].Name+" only in a")
			i++
		case i == len(a) || b[j].Name < a[i].Name:
			out = append(out, b[j].Name+" only in b")
			j++
		default:
			if !bytes.Equal(a[i].Value, b[j].Value) {
				out = append(out, fmt.Sprintf("%s: %q != %q", a[i].Name, clip(a[i].Value), clip(b[j].Value)))
			}
			i, j = i+1, j+1
		}
	}
	return strings.Join(out, "; ")
}

// clip shortens a value for a message.
func clip(v []byte) []byte {
	if len(v) > 32 {
		return append(v[:32:32], "..."...)
	}
	return v
}
