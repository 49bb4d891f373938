package engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
)

// The receiver's file-system primitives. Every call works on a name inside a directory
// handle and follows no symlink; names come from the peer and are checked first.

// checkPath accepts a relative '/'-separated path without empty, "." or ".." components.
func checkPath(p string) error {
	if p == "" {
		return nil // the root itself
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("absolute path %s", quote(p))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("path %s holds a NUL byte", quote(p))
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("path %s has a %q component", quote(p), c)
		}
		if len(c) > 255 {
			return fmt.Errorf("path %s has a name longer than 255 bytes", quote(p))
		}
	}
	return nil
}

// splitPath splits a checked path into its parent directory ("" for the root) and name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// tempPrefix starts the name of every file the receiver has not finished.
const tempPrefix = ".ferry-"

// tempName is the fixed temporary name of name inside its directory: the same on every run,
// so a later run finds and resumes a partial file, and short enough for any name length.
func tempName(name string) string {
	sum := blake3.Sum256([]byte(name))
	return tempPrefix + hex.EncodeToString(sum[:8]) + ".part"
}

func isTempName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, ".part")
}

// procPath names an object inside a directory handle for calls that only take paths
// (lsetxattr and friends); the last component is still not followed by the l* calls.
func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

func lstatAt(dirfd int, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return &st, nil
}

// kindOfStat is the kind of the object an lstat described.
func kindOfStat(st *unix.Stat_t) scan.Kind { return scan.KindOf(st.Mode) }

// openDirAt opens the directory name inside dirfd, refusing a symlink.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// openBeneath opens a directory below rootfd without following symlinks or leaving it.
func openBeneath(rootfd int, rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	return unix.Openat2(rootfd, rel, how)
}

// removeAt removes name inside dirfd, a whole tree if it is a directory.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// readNames lists a directory handle's entries without closing the handle.
func readNames(dirfd int) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), ".")
	defer d.Close()
	return d.Readdirnames(-1)
}
