package engine

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
)

// errOwner marks a failure to set owner and group, which --no-owner avoids.
var errOwner = errors.New("cannot set owner and group")

// applyMeta gives the object name inside dirfd (open as fd, or -1) the owner, xattrs, mode
// and modification time of x, in that order: chown clears setuid bits and setting an ACL
// changes group bits, so the mode comes after both, and the time comes last.
func applyMeta(dirfd int, name string, fd int, x *entry, o Options) error {
	return applyMetaIn(dirfd, name, fd, x, o, false)
}

// applyMetaIn is applyMeta; fresh says the object was just created in a clean directory (see
// dirNode.clean): it has no xattrs to remove, and maybe the right mode already.
func applyMetaIn(dirfd int, name string, fd int, x *entry, o Options, fresh bool) error {
	if !o.NoOwner {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, int(x.UID), int(x.GID))
		} else {
			err = unix.Fchownat(dirfd, name, int(x.UID), int(x.GID), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("%w to %d:%d (%v): run the receiver as root, or pass --no-owner where the target cannot hold owners (root-squashed NFS)", errOwner, x.UID, x.GID, err)
		}
	}
	if !o.NoXattrs && (!fresh || len(x.Xattrs) > 0) {
		if err := applyXattrs(dirfd, name, fd, x, o, fresh); err != nil {
			return err
		}
	}
	if _, set := createMode(x, o, fresh); x.Kind != scan.KindSymlink && !set {
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, x.Mode)
		} else {
			err = unix.Fchmodat(dirfd, name, x.Mode, 0)
		}
		if err != nil {
			return fmt.Errorf("set mode %#o: %w", x.Mode, err)
		}
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(x.Mtime)}
	var err error
	if fd >= 0 {
		err = futimens(fd, ts)
	} else {
		err = unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("set modification time: %w", err)
	}
	return nil
}

// createMode is the mode to create a new regular file with, and whether that is already its
// final mode. It is x's own mode when nothing will change it: no setuid, setgid or sticky bit
// (which need setting after chown), no bit the umask removes, no access ACL to set (it rewrites
// the group bits), a clean directory (fresh: no default ACL, which would replace the umask), and
// owner read and write (so a partial copy can be reopened to resume). Otherwise it is 0600
// until applyMetaIn sets the mode. Saving the chmod is a system call per file.
func createMode(x *entry, o Options, fresh bool) (mode uint32, final bool) {
	if x.Kind != scan.KindFile || !fresh || o.NoXattrs || x.Mode&^0o777 != 0 ||
		x.Mode&0o600 != 0o600 || x.Mode&processUmask() != 0 || hasXattr(x, scan.ACLAccess) {
		return 0o600, false
	}
	return x.Mode, true
}

func hasXattr(x *entry, name string) bool {
	return slices.ContainsFunc(x.Xattrs, func(xa scan.Xattr) bool { return xa.Name == name })
}

// processUmask is the umask of the process, read without changing it (umask(2) can only
// set it); all bits when it cannot be read, so that createMode never relies on it.
var processUmask = sync.OnceValue(func() uint32 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err == nil {
				return uint32(m)
			}
		}
	}
	return 0o777
})

// applyXattrs sets x's attributes and removes others that scan would have carried (a new
// file inherits a default ACL from its directory, for one).
func applyXattrs(dirfd int, name string, fd int, x *entry, o Options, fresh bool) error {
	var have []scan.Xattr
	if !fresh {
		var err error
		if have, err = scan.XattrsAt(dirfd, name, o.Security); err != nil {
			return fmt.Errorf("list xattrs: %w", err)
		}
	}
	for _, xa := range x.Xattrs {
		if err := setXattr(dirfd, name, fd, xa); err != nil {
			return fmt.Errorf("set xattr %s: %w", xa.Name, err)
		}
	}
	for _, h := range have {
		if slices.ContainsFunc(x.Xattrs, func(xa scan.Xattr) bool { return xa.Name == h.Name }) {
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fremovexattr(fd, h.Name)
		} else {
			err = unix.Lremovexattr(procPath(dirfd, name), h.Name)
		}
		if err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("remove xattr %s: %w", h.Name, err)
		}
	}
	return nil
}

func setXattr(dirfd int, name string, fd int, xa scan.Xattr) error {
	if fd >= 0 {
		return unix.Fsetxattr(fd, xa.Name, xa.Value, 0)
	}
	return unix.Lsetxattr(procPath(dirfd, name), xa.Name, xa.Value, 0)
}

// sameMeta reports whether the object described by st (name inside dirfd) already has x's
// owner, mode, time and xattrs.
func sameMeta(dirfd int, name string, st *unix.Stat_t, x *entry, o Options) bool {
	if st.Mtim.Nano() != x.Mtime {
		return false
	}
	if !o.NoOwner && (st.Uid != x.UID || st.Gid != x.GID) {
		return false
	}
	if x.Kind != scan.KindSymlink && st.Mode&0o7777 != x.Mode {
		return false
	}
	if o.NoXattrs {
		return true
	}
	return sameXattrs(dirfd, name, x, o)
}

func sameXattrs(dirfd int, name string, x *entry, o Options) bool {
	have, err := scan.XattrsAt(dirfd, name, o.Security)
	if err != nil || len(have) != len(x.Xattrs) {
		return false
	}
	for i := range have {
		if have[i].Name != x.Xattrs[i].Name || string(have[i].Value) != string(x.Xattrs[i].Value) {
			return false
		}
	}
	return true
}
