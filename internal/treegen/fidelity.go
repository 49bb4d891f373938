package treegen

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// builder makes the objects of the fidelity tree, keeping the first error and counting what
// it made (the errWriter pattern: the steps read as a list).
type builder struct {
	root string // the fidelity directory
	seed int64
	st   Stats
	err  error
}

func (b *builder) p(rel string) string { return filepath.Join(b.root, rel) }

// do records err, the result of what, unless an error is already recorded.
func (b *builder) do(what, rel string, err error) {
	if b.err == nil && err != nil {
		b.err = fmt.Errorf("%s %s: %w", what, b.p(rel), err)
	}
}

func (b *builder) dir(rel string, mode uint32) {
	if b.err == nil {
		b.err = mkdir(b.p(rel), mode)
		b.st.Dirs++
	}
}

// file creates rel with content and exactly mode.
func (b *builder) file(rel string, content []byte, mode uint32) {
	if b.err != nil {
		return
	}
	b.do("create", rel, os.WriteFile(b.p(rel), content, 0o600))
	b.chmod(rel, mode)
	b.st.Files++
	b.st.Bytes += int64(len(content))
}

// randFile creates rel with size bytes of content from the fidelity stream.
func (b *builder) randFile(rel string, size int, mode uint32) {
	buf := make([]byte, size)
	fillRand(buf, b.seed, streamFidelity, hash64(rel), 0)
	b.file(rel, buf, mode)
}

func (b *builder) chmod(rel string, mode uint32) {
	if b.err == nil {
		b.do("chmod", rel, unix.Fchmodat(unix.AT_FDCWD, b.p(rel), mode, 0))
	}
}

func (b *builder) chown(rel string, uid, gid int) {
	if b.err == nil {
		b.do("chown", rel, unix.Lchown(b.p(rel), uid, gid))
	}
}

func (b *builder) symlink(target, rel string) {
	if b.err == nil {
		b.do("symlink", rel, unix.Symlink(target, b.p(rel)))
		b.st.Symlinks++
	}
}

func (b *builder) link(oldRel, rel string, size int64) {
	if b.err == nil {
		b.do("link", rel, unix.Link(b.p(oldRel), b.p(rel)))
		b.st.Files++
		b.st.Bytes += size
	}
}

func (b *builder) mknod(rel string, mode uint32, dev uint64) {
	if b.err == nil {
		b.do("mknod", rel, unix.Mknod(b.p(rel), mode, int(dev)))
		b.chmod(rel, mode&0o7777)
		b.st.Special++
	}
}

func (b *builder) xattr(rel, name string, value []byte) {
	if b.err == nil {
		b.do("set xattr "+name+" on", rel, unix.Lsetxattr(b.p(rel), name, value, 0))
	}
}

// genFidelity makes fidelity/ with one of every kind of object and attribute.
func genFidelity(ctx context.Context, dir string, s Spec) (Stats, error) {
	if !s.Fidelity {
		return Stats{}, nil
	}
	b := &builder{root: filepath.Join(dir, "fidelity"), seed: s.Seed}
	b.dir("", 0o755)
	steps := []func(){b.modes, b.owners, b.special, b.hardLinks, b.symlinks,
		b.xattrs, b.acls, b.sparse, b.names, b.deep}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return b.st, err
		}
		step()
	}
	if b.err != nil {
		return b.st, b.err
	}
	return b.st, stampTimes(dir, b.root)
}

// stampTimes gives every object below and including root its pathTime, children before
// their directory. Hard-linked paths share an inode: the last one set wins, always the same.
func stampTimes(dir, root string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", root, err)
	}
	for _, p := range slices.Backward(paths) {
		if err := setTime(p, pathTime(rel(dir, p))); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) modes() {
	b.dir("modes", 0o755)
	b.randFile("modes/setuid", 100, 0o4755)
	b.randFile("modes/setgid", 100, 0o2755)
	b.randFile("modes/setuid-setgid-sticky", 100, 0o7777)
	b.randFile("modes/none", 100, 0)
	b.randFile("modes/all", 100, 0o777)
	b.randFile("modes/write-only", 100, 0o222)
	b.dir("modes/sticky-dir", 0o1777)
	b.dir("modes/setgid-dir", 0o2775)
	b.dir("modes/closed-dir", 0o700)
	b.file("modes/empty", nil, 0o644)
	b.dir("modes/empty-dir", 0o755)
}

// owners uses ids that no passwd or group file names.
func (b *builder) owners() {
	b.dir("owners", 0o755)
	b.randFile("owners/file", 100, 0o640)
	b.chown("owners/file", 12345, 54321)
	b.dir("owners/dir", 0o750)
	b.chown("owners/dir", 23456, 23456)
	b.randFile("owners/setuid-owned", 100, 0o4750)
	b.chown("owners/setuid-owned", 12345, 12345)
	b.chmod("owners/setuid-owned", 0o4750) // chown clears setuid
	b.symlink("file", "owners/link")
	b.chown("owners/link", 34567, 45678)
	b.randFile("owners/max", 10, 0o644)
	b.chown("owners/max", 4294967294, 4294967294)
}

func (b *builder) special() {
	b.dir("special", 0o755)
	b.mknod("special/fifo", unix.S_IFIFO|0o640, 0)
	b.mknod("special/char", unix.S_IFCHR|0o600, unix.Mkdev(1, 7))
	b.mknod("special/block", unix.S_IFBLK|0o660, unix.Mkdev(7, 200))
	b.mknod("special/char-big", unix.S_IFCHR|0o644, unix.Mkdev(4095, 1048575))
}

// hardLinks makes a group of three across directories and a pair.
func (b *builder) hardLinks() {
	b.dir("hardlinks", 0o755)
	b.dir("hardlinks/a", 0o755)
	b.dir("hardlinks/b", 0o755)
	b.randFile("hardlinks/a/one", 5000, 0o644)
	b.link("hardlinks/a/one", "hardlinks/b/two", 5000)
	b.link("hardlinks/a/one", "hardlinks/three", 5000)
	b.randFile("hardlinks/pair-1", 10, 0o600)
	b.link("hardlinks/pair-1", "hardlinks/pair-2", 10)
}

func (b *builder) symlinks() {
	b.dir("symlinks", 0o755)
	b.symlink("../modes/setuid", "symlinks/relative")
	b.symlink("/etc/hostname", "symlinks/absolute")
	b.symlink("does/not/exist", "symlinks/dangling")
	b.symlink("../hardlinks", "symlinks/to-dir")
	b.symlink("loop", "symlinks/loop")
	b.symlink("odd\ntarget\xff", "symlinks/odd-target")
	b.symlink(strings.Repeat("long/", 200)+"end", "symlinks/long-target")
}

func (b *builder) xattrs() {
	b.dir("xattrs", 0o755)
	b.randFile("xattrs/file", 100, 0o644)
	b.xattr("xattrs/file", "user.text", []byte("hello"))
	b.xattr("xattrs/file", "user.empty", nil)
	b.xattr("xattrs/file", "user.binary", []byte{0, 1, 2, 0xff, 0})
	b.xattr("xattrs/file", "user.big", []byte(strings.Repeat("x", 2000)))
	b.xattr("xattrs/file", "trusted.ferry", []byte("trusted"))
	b.dir("xattrs/dir", 0o755)
	b.xattr("xattrs/dir", "user.dir", []byte("on a directory"))
	b.symlink("file", "xattrs/link")
	b.xattr("xattrs/link", "trusted.link", []byte("on a symlink"))
}

// acls sets access ACLs on a file and a directory, a default ACL on the directory, and makes
// a file that inherits it.
func (b *builder) acls() {
	b.dir("acl", 0o755)
	b.randFile("acl/file", 100, 0o640)
	b.xattr("acl/file", "system.posix_acl_access", fileACL)
	b.dir("acl/dir", 0o755)
	b.xattr("acl/dir", "system.posix_acl_access", dirACL)
	b.xattr("acl/dir", "system.posix_acl_default", defaultACL)
	if b.err == nil { // created, not chmod-ed: its mode and ACL come from the default ACL
		b.do("create", "acl/dir/inherited", writeInherited(b.p("acl/dir/inherited")))
		b.st.Files++
	}
}

func writeInherited(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	return f.Close()
}

// sparse makes files with holes in the middle, at the end, only holes, and several regions.
func (b *builder) sparse() {
	b.dir("sparse", 0o755)
	b.sparseFile("sparse/middle", 16<<20, 8<<20, 4096)
	b.sparseFile("sparse/tail", 4<<20, 0, 64<<10)
	b.sparseFile("sparse/all-hole", 1<<20)
	b.sparseFile("sparse/multi", 32<<20, 0, 4096, 10<<20, 1<<20, 20<<20, 8192, 32<<20-4096, 4096)
}

// sparseFile makes a file of size bytes with data only in the (offset, length) regions.
func (b *builder) sparseFile(rel string, size int64, regions ...int64) {
	if b.err != nil {
		return
	}
	f, err := os.OpenFile(b.p(rel), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	b.do("create", rel, err)
	if err != nil {
		return
	}
	defer func() { b.do("close", rel, f.Close()) }()
	b.do("chmod", rel, f.Chmod(0o644))
	b.do("truncate", rel, f.Truncate(size))
	for i := 0; i+1 < len(regions); i += 2 {
		buf := make([]byte, regions[i+1])
		fillRand(buf, b.seed, streamFidelity, hash64(rel), uint64(i))
		_, err := f.WriteAt(buf, regions[i])
		b.do("write", rel, err)
	}
	b.st.Files++
	b.st.Bytes += size
}

// oddNames are file names a copy must carry byte for byte.
var oddNames = []string{
	"\xff\xfe-not-utf8", "new\nline", "tab\there", " leading and trailing space ", "-dash",
	".hidden", "ünïcødé-名前", "*?[glob]", "back\\slash", "quote'\"", "\x01control",
	strings.Repeat("n", 255),
}

func (b *builder) names() {
	b.dir("names", 0o755)
	for _, n := range oddNames {
		b.file("names/"+n, []byte(n), 0o644)
	}
}

// deep makes a chain of 100 directories with a file at the bottom.
func (b *builder) deep() {
	p := "deep"
	b.dir(p, 0o755)
	for range 99 {
		p += "/d"
		b.dir(p, 0o755)
	}
	b.file(p+"/bottom", []byte("100 directories down\n"), 0o644)
}
