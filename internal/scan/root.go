package scan

import (
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Root is an open directory from which files are opened by relative path, without
// following any symlink and without leaving it; it saves the senders of many files the
// opening of the root each time (Open does that).
type Root struct {
	fd   int
	path string
}

// OpenRoot opens dir for OpenFile calls. Close it when done.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", dir, "", err)
	}
	return &Root{fd: fd, path: dir}, nil
}

// OpenFile opens rel below the root for reading, as Open does.
func (r *Root) OpenFile(rel string) (*os.File, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	fd, err := openBeneath(r.fd, rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, pathErr("open", r.path, rel, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(r.path, rel)), nil
}

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// XattrsAt returns the attributes of name inside the directory dirfd that Walk would
// capture (the same selection, sorted by name), never following name if it is a symlink.
func XattrsAt(dirfd int, name string, security bool) ([]Xattr, error) {
	xr := xattrReaders.Get().(*xattrReader)
	defer xattrReaders.Put(xr)
	return xr.read(xattrObj{dirfd: dirfd, name: name, dir: procPath(dirfd) + "/"}, security)
}

// xattrReaders keeps the buffers of XattrsAt between calls: a receiver checks every file.
var xattrReaders = sync.Pool{New: func() any { return new(xattrReader) }}
