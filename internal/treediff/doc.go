// Package treediff compares two directory trees attribute by attribute and lists every
// difference: what tests use to assert that a copy is exact, and what `make demo` prints to
// show it.
//
// Compare walks both trees with package scan, at the same time, and merges the two walks
// (they come in the same order), so memory does not grow with the size of the trees. For each
// path it compares kind, permission bits, owner, mtime to the nanosecond (of directories and
// symlinks too), size, content (BLAKE3 of both files, read in chunks by a pool of workers),
// symlink target, extended attributes (POSIX ACLs among them), device numbers, hard-link
// groups, and holes: a file that has holes in a must not take noticeably more space in b.
//
// a is the reference (the source of a copy) and b the candidate: "missing" means a path of a
// that b lacks, "extra" a path of b that a lacks.
package treediff
