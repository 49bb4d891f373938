package scan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrBadPath is returned for a relative path that is not clean: empty components, ".", ".."
// or a leading or trailing '/'.
var ErrBadPath = errors.New("not a clean relative path")

// checkRel validates a relative, '/'-separated path; "" is the root.
func checkRel(rel string) error {
	if rel == "" {
		return nil
	}
	for c := range strings.SplitSeq(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("check path %q: %w", rel, ErrBadPath)
		}
	}
	return nil
}

// pathErr wraps a failed operation on rel under root. The path in the message is the full
// one, which is what a person reading a log needs.
func pathErr(op, root, rel string, err error) error {
	return &fs.PathError{Op: op, Path: filepath.Join(root, rel), Err: err}
}

// dirRef is a directory open as fd. For the xattr calls, which have no *at form before Linux
// 6.13, prefix + name addresses a child without resolving the path from the root again:
// through /proc/self/fd when it works, else through the full path.
type dirRef struct {
	fd     int
	prefix string
}

// xattrObj addresses the child name of d for the xattr calls.
func (d dirRef) xattrObj(name string) xattrObj {
	return xattrObj{dirfd: d.fd, name: name, dir: d.prefix}
}

func newDirRef(fd int, root, rel string) dirRef {
	if procFDWorks() {
		return dirRef{fd: fd, prefix: procPath(fd) + "/"}
	}
	return dirRef{fd: fd, prefix: filepath.Join(root, rel) + "/"}
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// procFDWorks reports whether /proc/self/fd/N leads to the object open as N (it does not in a
// chroot or container without /proc).
var procFDWorks = sync.OnceValue(func() bool {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(procPath(fd), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
})

// noOpenat2 is set once openat2 turned out to be unavailable (old kernel, seccomp filter).
var noOpenat2 atomic.Bool

// openBeneath opens rel below the directory open as rootfd without following any symlink,
// "" meaning the root itself. flags get O_CLOEXEC and O_NOFOLLOW added.
func openBeneath(rootfd int, rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if !noOpenat2.Load() {
		how := &unix.OpenHow{
			Flags:   uint64(flags),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		for range 8 { // EAGAIN: a rename raced with the lookup; the kernel asks to retry
			fd, err := unix.Openat2(rootfd, rel, how)
			if err == unix.ENOSYS || err == unix.EPERM {
				noOpenat2.Store(true)
				break
			}
			if err != unix.EAGAIN && err != unix.EINTR {
				return fd, err
			}
		}
	}
	return openByComponents(rootfd, rel, flags)
}

// openByComponents is openBeneath for kernels without openat2: one openat per component.
func openByComponents(rootfd int, rel string, flags int) (int, error) {
	dir, name := splitLast(rel)
	cur := rootfd
	release := func() {
		if cur != rootfd {
			unix.Close(cur)
		}
	}
	if dir != "" {
		for c := range strings.SplitSeq(dir, "/") {
			next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			release()
			if err != nil {
				return -1, err
			}
			cur = next
		}
	}
	defer release()
	return unix.Openat(cur, name, flags, 0)
}

// splitLast splits a relative path into its directory ("" at the root) and last name.
func splitLast(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// Open opens the object at rel below root for reading, following no symlink on the way
// (a symlink anywhere in rel makes it fail). It opens with O_NONBLOCK so that a FIFO put in
// the place of a file cannot block; check the kind with Stat.
func Open(root, rel string) (*os.File, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", root, "", err)
	}
	defer unix.Close(rfd)
	fd, err := openBeneath(rfd, rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, pathErr("open", root, rel, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, rel)), nil
}
