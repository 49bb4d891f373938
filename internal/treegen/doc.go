// Package treegen generates directory trees for tests, benchmarks and demos: many small files,
// a few large ones, and on request one of every kind of object and attribute that ferry must
// carry over (devices, a FIFO, hard links across directories, symlinks with their own mtimes,
// setuid and sticky modes, owners that exist in no passwd file, user and trusted xattrs, access
// and default ACLs, sparse files, names that are not UTF-8, a 100-deep chain of directories).
//
// Everything is deterministic: file contents come from ChaCha8 streams keyed by Spec.Seed and
// the file's index, and every object gets an explicit mtime, so two trees generated from the
// same Spec compare equal with treediff. Content generation and writing run on all cores, so
// that 50,000 small files or a 1 GiB file take well under two seconds on a laptop.
//
// Mutate then changes a generated tree the way an application changes a volume between the
// stage and the cutover copy of a migration: some files modified, some added, some removed,
// and one file turned into a directory.
package treegen
