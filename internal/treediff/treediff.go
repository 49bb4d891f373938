package treediff

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferrydvm/ferry/internal/scan"
)

// Options control what Compare looks at.
type Options struct {
	// Security compares security.* xattrs too.
	Security bool
	// IgnoreOwner leaves uid and gid out (a copy made without root).
	IgnoreOwner bool
	// IgnoreXattrs leaves extended attributes and ACLs out (a copy made with --no-xattrs).
	IgnoreXattrs bool
	// Exclude leaves paths out of both trees, as in scan.Options.
	Exclude func(path string, kind scan.Kind) bool
}

// Difference is one attribute of one path that differs between the trees.
type Difference struct {
	// Path is relative to the roots, '/'-separated, "" for the roots themselves.
	Path string
	// What names the attribute: "missing", "extra", "kind", "mode", "owner", "mtime",
	// "size", "content", "link", "xattrs", "rdev", "hardlink" or "holes".
	What string
	// Detail shows the two values, a's first.
	Detail string
}

func (d Difference) String() string { return fmt.Sprintf("%q: %s: %s", d.Path, d.What, d.Detail) }

// whatOrder orders the differences of one path.
var whatOrder = []string{"missing", "extra", "kind", "mode", "owner", "mtime", "size", "content",
	"link", "xattrs", "rdev", "hardlink", "holes"}

// Compare compares every entry of the trees a and b and returns the differences, sorted by
// path in walk order (scan.ComparePaths) and then by attribute, at most one per path and
// attribute. Below a missing or extra directory, or a path whose kind differs, only that path
// is reported. An error means the comparison could not be made (a root that cannot be read,
// a file that vanished while being hashed), not that the trees differ.
func Compare(ctx context.Context, a, b string, opts Options) ([]Difference, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sopts := scan.Options{Security: opts.Security, NoXattrs: opts.IgnoreXattrs, Exclude: opts.Exclude}
	c := &comparer{opts: opts, hash: newHashPool(ctx, a, b)}
	err := c.merge(ctx, startWalk(ctx, a, sopts), startWalk(ctx, b, sopts))
	if err != nil {
		cancel()
	}
	diffs, herr := c.hash.wait()
	if err != nil {
		return nil, err
	}
	if herr != nil {
		return nil, herr
	}
	diffs = append(diffs, c.diffs...)
	sortDiffs(diffs)
	return diffs, nil
}

func sortDiffs(diffs []Difference) {
	slices.SortFunc(diffs, func(x, y Difference) int {
		if c := scan.ComparePaths(x.Path, y.Path); c != 0 {
			return c
		}
		return cmp.Compare(slices.Index(whatOrder, x.What), slices.Index(whatOrder, y.What))
	})
}

// comparer merges the two walks. Content comparisons go to the hash pool; everything else is
// decided from the entries.
type comparer struct {
	opts  Options
	hash  *hashPool
	diffs []Difference
}

func (c *comparer) add(ds ...Difference) { c.diffs = append(c.diffs, ds...) }

// merge walks both cursors in step, like a sorted-merge join.
func (c *comparer) merge(ctx context.Context, ca, cb *cursor) error {
	for {
		if err := cmp.Or(ca.failed(), cb.failed(), ctx.Err()); err != nil {
			return err
		}
		ea, eb := ca.peek(), cb.peek()
		switch {
		case ea == nil && eb == nil:
			return nil
		case eb == nil || ea != nil && scan.ComparePaths(ea.Path, eb.Path) < 0:
			c.onlyIn(ca, "missing")
		case ea == nil || scan.ComparePaths(eb.Path, ea.Path) < 0:
			c.onlyIn(cb, "extra")
		default:
			ca.next()
			cb.next()
			c.pair(ea, eb, ca, cb)
		}
	}
}

// onlyIn reports the entry at cur, found in one tree only, and skips what is below it.
func (c *comparer) onlyIn(cur *cursor, what string) {
	e := cur.peek()
	cur.next()
	detail := e.Kind.String()
	if e.Kind == scan.KindDir {
		detail = fmt.Sprintf("dir with %d entries below it", cur.skipBelow(e.Path))
	}
	c.add(Difference{Path: e.Path, What: what, Detail: detail})
}

// pair compares the entries of one path in both trees.
func (c *comparer) pair(ea, eb *scan.Entry, ca, cb *cursor) {
	if ea.Kind != eb.Kind {
		detail := fmt.Sprintf("%v != %v", ea.Kind, eb.Kind)
		if n := ca.skipBelow(ea.Path) + cb.skipBelow(eb.Path); n > 0 {
			detail += fmt.Sprintf(" (%d entries below left out)", n)
		}
		c.add(Difference{Path: ea.Path, What: "kind", Detail: detail})
		return
	}
	c.add(compareEntries(ea, eb, c.opts)...)
	if needsHash(ea, eb) {
		c.hash.submit(ea.Path)
	}
}

// needsHash reports whether the contents of two files of one path must be read: they are
// regular files of the same non-zero size, and not both later links of the same group, whose
// first path has been compared already.
func needsHash(a, b *scan.Entry) bool {
	if a.Kind != scan.KindFile || a.Size != b.Size || a.Size == 0 {
		return false
	}
	return a.HardLink == "" || a.HardLink != b.HardLink
}

// below reports whether p is inside the directory dir.
func below(dir, p string) bool {
	if dir == "" {
		return p != ""
	}
	return strings.HasPrefix(p, dir+"/")
}
