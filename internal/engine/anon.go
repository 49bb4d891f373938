package engine

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Anonymous temporary files. A new small file in a clean directory (dirNode.clean) is
// written as an unnamed inode (O_TMPFILE) and linked to its final name once it is verified and
// has its metadata: one link instead of a create and a rename, which on ext4 saves about a
// quarter of the cost of writing a small file, and a crash leaves nothing behind. Such a file
// is lost if the connection is cut before it is complete; it is at most smallFile long.
//
// Linking an unnamed inode takes linkat with AT_EMPTY_PATH, which Linux allows the process
// that opened the file (since 6.10) or one with CAP_DAC_READ_SEARCH. Whether it works here is
// tried once per session, in the first clean directory that needs it (new, so trying leaves no
// trace); where it does not, files get named temporaries (tempName) as they do elsewhere.

// anonTemps records whether anonymous temporary files work for one session.
type anonTemps struct {
	once sync.Once
	ok   bool
}

// usable reports whether they work, trying in dirfd the first time.
func (a *anonTemps) usable(dirfd int) bool {
	a.once.Do(func() { a.ok = tryAnonymous(dirfd) == nil })
	return a.ok
}

// tryAnonymous creates an unnamed file in dirfd, links it and removes it again.
func tryAnonymous(dirfd int) error {
	fd, err := openAnonymous(dirfd, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	name := tempPrefix + "try-anonymous.part"
	unix.Unlinkat(dirfd, name, 0)
	if err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, 0)
}

func openAnonymous(dirfd int, mode uint32) (int, error) {
	return unix.Openat(dirfd, ".", unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, mode)
}

// linkAnonymous gives the unnamed file fd the name name in dirfd. When something took the
// name meanwhile, the file gets its temporary name and replaces it by rename, as a named
// temporary would.
func linkAnonymous(fd, dirfd int, name string) error {
	err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
	if !errors.Is(err, unix.EEXIST) {
		if err != nil {
			return fmt.Errorf("link into place: %w", err)
		}
		return nil
	}
	tmp := tempName(name)
	unix.Unlinkat(dirfd, tmp, 0)
	if err := unix.Linkat(fd, "", dirfd, tmp, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("link under a temporary name: %w", err)
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// futimens sets the times of the object open as fd (utimensat with a NULL path, which
// x/sys/unix has no wrapper for).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
