// Package engine copies one directory tree to a receiver over a single connection: the
// sender (Send) walks the source and streams entries; the receiver (Receiver.Handle)
// compares each with its own tree and asks only for the data it lacks, as whole files,
// deltas against its copy (internal/delta), or the rest of a partial file it kept from a cut
// connection. Nothing waits for a round trip per file: entries, requests and data flow at
// the same time, small files share frames, and workers on both sides read and write files
// in parallel.
//
// Every file is written under a temporary name in its directory, checked against the
// sender's BLAKE3 digest, given its metadata and only then renamed into place. Directory
// times are set after their contents. The receiver touches the file system only relative to
// directory handles, never following a symlink, and refuses any path with "..", an absolute
// path or an empty component.
//
// The protocol (frame types in proto.go):
//
//	S: Hello(volume, subdir, options)          R: Welcome | Error
//	S: Entries(batch)...  End                  R: Need(list)...  Ack(upto)...
//	S: Data(pieces) | Delta(ops)...            R: FileDone(list)... FileError...
//	                                           R: Summary (or Error), then half-closes and
//	                                              reads until the sender closes (hangUp)
package engine
