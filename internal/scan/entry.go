package scan

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Kind is the type of a file-system object.
type Kind uint8

// The kinds of object a tree can hold. The zero Kind is not valid.
const (
	KindFile Kind = iota + 1
	KindDir
	KindSymlink
	KindFIFO
	KindCharDev
	KindBlockDev
	KindSocket
)

var kindNames = [...]string{
	KindFile:     "file",
	KindDir:      "dir",
	KindSymlink:  "symlink",
	KindFIFO:     "fifo",
	KindCharDev:  "chardev",
	KindBlockDev: "blockdev",
	KindSocket:   "socket",
}

// String returns a short lowercase name: "file", "dir", "symlink", "fifo", "chardev",
// "blockdev" or "socket".
func (k Kind) String() string {
	if k == 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// KindOf maps the S_IFMT bits of a mode to a Kind, or 0 when the type is unknown.
func KindOf(mode uint32) Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return KindFile
	case unix.S_IFDIR:
		return KindDir
	case unix.S_IFLNK:
		return KindSymlink
	case unix.S_IFIFO:
		return KindFIFO
	case unix.S_IFCHR:
		return KindCharDev
	case unix.S_IFBLK:
		return KindBlockDev
	case unix.S_IFSOCK:
		return KindSocket
	}
	return 0
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Entry is one object in a tree.
type Entry struct {
	// Path is relative to the root, '/'-separated; "" is the root directory itself. It holds
	// the name bytes as they are on disk: invalid UTF-8 and newlines included.
	Path string
	Kind Kind
	// Mode holds the permission bits including setuid, setgid and sticky (mask 07777).
	Mode     uint32
	UID, GID uint32
	// Size is the length of a regular file; 0 for other kinds.
	Size int64
	// Mtime is the modification time in Unix nanoseconds; for a symlink, the link's own.
	Mtime int64
	// Link is the target of a symlink, verbatim.
	Link string
	// Rdev is the device number of a character or block device.
	Rdev uint64
	// Xattrs are sorted by name. They include system.posix_acl_access and
	// system.posix_acl_default as raw values (that is how ACLs are copied); security.* only
	// with Options.Security. Other system.* attributes (NFSv4 ACLs, for instance) are left out.
	Xattrs []Xattr
	// HardLink is, for the second and later paths of a hard-link group (regular files with
	// more than one link, same Dev and Ino), the Path of the first one seen in walk order.
	// It is "" otherwise, and always "" from Lstat.
	HardLink string
	// Sparse reports a regular file whose allocated bytes (Blocks*512) are fewer than Size.
	Sparse bool
	// LeftOut names the extended attributes the object has that Xattrs leaves out (see
	// there), so that a copy can say what it did not carry.
	LeftOut []string
	// Dev, Ino and Nlink identify the object, for callers.
	Dev, Ino uint64
	Nlink    uint32
	// Blocks is the number of 512-byte blocks allocated to the object.
	Blocks int64
}

// newEntry builds the entry for rel from its lstat result, or returns an error for an object
// of a type scan does not know.
func newEntry(rel string, st *unix.Stat_t) (*Entry, error) {
	k := KindOf(st.Mode)
	if k == 0 {
		return nil, fmt.Errorf("unknown file type %#o", st.Mode&unix.S_IFMT)
	}
	e := &Entry{
		Path:   rel,
		Kind:   k,
		Mode:   st.Mode & 0o7777,
		UID:    st.Uid,
		GID:    st.Gid,
		Mtime:  st.Mtim.Nano(),
		Dev:    uint64(st.Dev),
		Ino:    st.Ino,
		Nlink:  uint32(st.Nlink),
		Blocks: st.Blocks,
	}
	switch k {
	case KindFile:
		e.Size = st.Size
		e.Sparse = st.Blocks*512 < st.Size
	case KindCharDev, KindBlockDev:
		e.Rdev = uint64(st.Rdev)
	}
	return e, nil
}

// joinPath joins a relative directory path and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
