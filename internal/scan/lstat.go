package scan

import (
	"golang.org/x/sys/unix"
)

// Lstat returns the entry for one path relative to root ("" for root itself), following no
// symlink anywhere under root. Of opts it uses Security; HardLink stays "" since there is no
// walk order to refer to.
func Lstat(root, rel string, opts Options) (*Entry, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", root, "", err)
	}
	defer unix.Close(rfd)
	var xr xattrReader
	if rel == "" {
		return statRoot(rfd, root, opts, &xr)
	}
	dir, name := splitLast(rel)
	dfd := rfd
	if dir != "" {
		if dfd, err = openBeneath(rfd, dir, unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return nil, pathErr("open", root, dir, err)
		}
		defer unix.Close(dfd)
	}
	d := newDirRef(dfd, root, dir)
	e, linkLen, err := statAt(d, name, rel, root)
	if err != nil {
		return nil, err
	}
	if err := fill(e, d, name, linkLen, root, opts, &xr); err != nil {
		return nil, err
	}
	return e, nil
}
