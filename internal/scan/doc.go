// Package scan walks a directory tree and captures, for every object in it, the metadata that
// a faithful copy must reproduce: kind, permission bits (setuid, setgid, sticky included),
// numeric owner and group, nanosecond mtimes (of symlinks too), symlink targets, device
// numbers, extended attributes (POSIX ACLs travel as their raw system.posix_acl_* values),
// hard-link groups and sparseness.
//
// Both ends of a copy use it: the sender to list what it has, the receiver to list what is
// already there. It never follows a symbolic link below the root: every lookup is relative to
// an open directory (openat, fstatat with AT_SYMLINK_NOFOLLOW, l*xattr), so a link planted in
// the tree cannot make ferry read or describe anything outside it.
//
// Walk streams: it holds one open directory and one sorted name list per level of depth, plus
// the first path of each hard-link group with more than one link, never the whole tree.
// Per-item errors (a file that vanished, a directory that cannot be read) go to a callback that
// decides whether the walk goes on, as in the rest of ferry.
//
// DataExtents lists the data regions of a sparse file so that holes are neither read nor sent.
package scan
