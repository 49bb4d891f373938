package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"golang.org/x/sys/unix"
)

// Options control what Walk and Lstat capture.
type Options struct {
	// Security includes security.* extended attributes (SELinux labels, capabilities).
	Security bool
	// NoXattrs leaves extended attributes and ACLs out: entries carry none, and only their
	// names are read (into LeftOut).
	NoXattrs bool
	// Exclude reports whether a path (relative, '/'-separated) is left out, with everything
	// below it; nil means none. MTC excludes "lost+found" at the root. Walk only.
	Exclude func(path string, kind Kind) bool
	// OneFileSystem keeps Walk on the file system of the root: a mount point is reported but
	// not entered.
	OneFileSystem bool
}

// fileID identifies an inode.
type fileID struct{ dev, ino uint64 }

// walker holds the state of one Walk.
type walker struct {
	ctx     context.Context
	root    string
	opts    Options
	fn      func(*Entry) error
	onErr   func(path string, err error) error
	rootDev uint64
	links   map[fileID]string // first path of each inode with nlink > 1
	xrs     []xattrReader     // one per prober
	dirents []byte
}

// Walk visits root and everything below it depth first: a directory's entry comes before its
// contents, names within a directory in byte order. fn is called for every entry and may keep
// it. onErr is called for per-item errors (permission denied, vanished file) and decides
// whether the walk stops (return nil to go on); a nil onErr stops at the first one. Context
// cancellation stops the walk.
//
// Root itself is followed if it is a symlink; nothing below it ever is. If fn returns
// fs.SkipDir for a directory, its contents are skipped; for another entry, the rest of its
// directory is. fs.SkipAll ends the walk without error.
func Walk(ctx context.Context, root string, opts Options, fn func(*Entry) error, onErr func(path string, err error) error) error {
	w := &walker{ctx: ctx, root: root, opts: opts, fn: fn, onErr: onErr, links: map[fileID]string{}}
	w.xrs = make([]xattrReader, probers())
	err := w.walkRoot()
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (w *walker) walkRoot() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	pfd, err := unix.Open(w.root, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return pathErr("open", w.root, "", err)
	}
	defer unix.Close(pfd)
	e, err := statRoot(pfd, w.root, w.opts, &w.xrs[0])
	if err != nil {
		return err
	}
	w.rootDev = e.Dev
	if err := w.fn(e); err != nil || e.Kind != KindDir {
		return err
	}
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return w.fail("", pathErr("open", w.root, "", err))
	}
	defer unix.Close(fd)
	return w.dir(fd, "")
}

// statRoot describes the root open as the O_PATH descriptor fd.
func statRoot(fd int, root string, opts Options, xr *xattrReader) (*Entry, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, pathErr("stat", root, "", err)
	}
	e, err := newEntry("", &st)
	if err != nil {
		return nil, pathErr("stat", root, "", err)
	}
	obj := xattrObj{dirfd: -1, dir: root, follow: true}
	if procFDWorks() {
		obj.dir = procPath(fd)
	}
	if err := readXattrs(e, obj, opts, xr); err != nil {
		return nil, pathErr("xattrs", root, "", err)
	}
	return e, nil
}

// fail hands a per-item error to onErr.
func (w *walker) fail(rel string, err error) error {
	if w.onErr == nil {
		return err
	}
	return w.onErr(rel, err)
}

// dir walks the contents of the directory open as fd.
func (w *walker) dir(fd int, rel string) error {
	names, err := w.readNames(fd)
	if err != nil {
		return w.fail(rel, pathErr("read directory", w.root, rel, err))
	}
	ref := newDirRef(fd, w.root, rel)
	for start := 0; start < len(names); start += probeWindow {
		batch := names[start:min(start+probeWindow, len(names))]
		probes := w.probeAll(ref, rel, batch)
		for i, name := range batch {
			if err := w.ctx.Err(); err != nil {
				return err
			}
			err := w.visit(ref, name, probes[i])
			probes[i] = probe{} // done with it; let it go before descending further
			if err == fs.SkipDir {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// readNames returns the names in the directory open as fd, in byte order.
func (w *walker) readNames(fd int) ([]string, error) {
	if w.dirents == nil {
		w.dirents = make([]byte, 64<<10)
	}
	var names []string
	for {
		n, err := unix.Getdents(fd, w.dirents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(w.dirents[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}

// visit hands the probed object name of d to fn, and walks what is below it.
func (w *walker) visit(d dirRef, name string, p probe) error {
	if p.statErr != nil {
		return w.fail(p.rel, p.statErr)
	}
	e := p.e
	if w.opts.Exclude != nil && w.opts.Exclude(e.Path, e.Kind) {
		return nil
	}
	if p.fillErr != nil {
		return w.fail(e.Path, p.fillErr)
	}
	w.linkGroup(e)
	if err := w.fn(e); err != nil {
		if err == fs.SkipDir && e.Kind == KindDir {
			return nil
		}
		return err
	}
	if e.Kind != KindDir || w.opts.OneFileSystem && e.Dev != w.rootDev {
		return nil
	}
	return w.descend(d, name, e)
}

// linkGroup sets e.HardLink when e is a later path of a hard-link group.
func (w *walker) linkGroup(e *Entry) {
	if e.Kind != KindFile || e.Nlink < 2 {
		return
	}
	id := fileID{e.Dev, e.Ino}
	if first, ok := w.links[id]; ok {
		e.HardLink = first
		return
	}
	w.links[id] = e.Path
}

// errReplaced reports a directory that changed identity between fstatat and openat.
var errReplaced = errors.New("directory replaced while walking")

// descend opens the subdirectory name of d, checks that it is still the object e describes,
// and walks it.
func (w *walker) descend(d dirRef, name string, e *Entry) error {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return w.fail(e.Path, pathErr("open", w.root, e.Path, err))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return w.fail(e.Path, pathErr("stat", w.root, e.Path, err))
	}
	if uint64(st.Dev) != e.Dev || st.Ino != e.Ino {
		return w.fail(e.Path, pathErr("open", w.root, e.Path, errReplaced))
	}
	err = w.dir(fd, e.Path)
	if err == fs.SkipDir {
		return nil
	}
	return err
}

// statAt describes name in d without following it; rel is its path below root. It also
// returns the size lstat reports, the length of a symlink's target.
func statAt(d dirRef, name, rel, root string) (*Entry, int64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, 0, pathErr("lstat", root, rel, err)
	}
	e, err := newEntry(rel, &st)
	if err != nil {
		return nil, 0, pathErr("lstat", root, rel, err)
	}
	return e, st.Size, nil
}

// fill reads the symlink target (linkLen bytes long, as lstat said) and the extended
// attributes of e, which is name in d.
func fill(e *Entry, d dirRef, name string, linkLen int64, root string, opts Options, xr *xattrReader) error {
	if e.Kind == KindSymlink {
		link, err := readlinkAt(d.fd, name, linkLen)
		if err != nil {
			return pathErr("readlink", root, e.Path, err)
		}
		e.Link = link
	}
	if err := readXattrs(e, d.xattrObj(name), opts, xr); err != nil {
		return pathErr("xattrs", root, e.Path, err)
	}
	return nil
}

// readXattrs sets e's Xattrs and LeftOut. With NoXattrs it only lists the names, all left
// out, and a failure to list them is no error: none of them would be copied anyway.
func readXattrs(e *Entry, obj xattrObj, opts Options, xr *xattrReader) error {
	if opts.NoXattrs {
		e.LeftOut, _ = xr.names(obj)
		return nil
	}
	var err error
	if e.Xattrs, err = xr.read(obj, opts.Security); err != nil {
		return err
	}
	if len(xr.leftOut) > 0 {
		e.LeftOut = slices.Clone(xr.leftOut)
	}
	return nil
}

// readlinkAt reads the target of the symlink name in dirfd; hint is its expected length.
func readlinkAt(dirfd int, name string, hint int64) (string, error) {
	size := max(int(hint)+1, 128)
	for {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size >= 1<<20 {
			return "", fmt.Errorf("symlink target longer than %d bytes", size)
		}
		size *= 4
	}
}
