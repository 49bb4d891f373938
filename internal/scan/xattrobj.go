package scan

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xattrObj names an object for the extended-attribute calls. Linux 6.13 added *xattrat calls
// that take a directory descriptor and a name, like fstatat; they are used when the kernel has
// them. Older kernels need a path, dir + name, where dir is either /proc/self/fd/N/ (immune
// to symlinks swapped into the tree, but three times slower) or, without /proc, the full path
// of the directory.
type xattrObj struct {
	dirfd  int    // with name, for the *xattrat calls; -1 if there is none
	name   string // a name in dirfd, never followed
	dir    string // dir + name is the path for the path-based calls
	follow bool   // path-based calls follow the last component (the root only)
}

// Syscall numbers of listxattrat and getxattrat, the same on every architecture (Linux 6.13).
const (
	sysGetxattrat  = 464
	sysListxattrat = 465
)

// noXattrat is set once the kernel turned out not to have the *xattrat calls.
var noXattrat atomic.Bool

func (o xattrObj) useAt() bool { return o.dirfd >= 0 && !noXattrat.Load() }

// list is listxattr: it fills dest with NUL-terminated names and returns the length used, or
// with an empty dest the length needed.
func (o xattrObj) list(dest []byte) (int, error) {
	if o.useAt() {
		n, err := listxattrat(o.dirfd, o.name, dest)
		if err != unix.ENOSYS {
			return n, err
		}
		noXattrat.Store(true)
	}
	if o.follow {
		return unix.Listxattr(o.dir+o.name, dest)
	}
	return unix.Llistxattr(o.dir+o.name, dest)
}

// get is getxattr: it reads attribute attr into dest, or with an empty dest returns its size.
func (o xattrObj) get(attr string, dest []byte) (int, error) {
	if o.useAt() {
		n, err := getxattrat(o.dirfd, o.name, attr, dest)
		if err != unix.ENOSYS {
			return n, err
		}
		noXattrat.Store(true)
	}
	if o.follow {
		return unix.Getxattr(o.dir+o.name, attr, dest)
	}
	return unix.Lgetxattr(o.dir+o.name, attr, dest)
}

func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func listxattrat(dirfd int, name string, dest []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	r, _, errno := unix.Syscall6(sysListxattrat, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(bufPtr(dest)), uintptr(len(dest)), 0)
	runtime.KeepAlive(dest)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// xattrArgs is struct xattr_args of <linux/xattr.h>.
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

func getxattrat(dirfd int, name, attr string, dest []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	a, err := unix.BytePtrFromString(attr)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{value: uint64(uintptr(bufPtr(dest))), size: uint32(len(dest))}
	r, _, errno := unix.Syscall6(sysGetxattrat, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	runtime.KeepAlive(dest)
	runtime.KeepAlive(&args)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
