// Package delta sends a changed large file as the difference from an old version of it, with
// rsync's algorithm: only the changed regions cross the network, even when data moved.
//
// Three steps, on two machines:
//
//  1. The receiver, which holds the old file, calls [Sign]: it cuts the file into blocks of
//     [Signature.BlockSize] bytes (the last one may be short) and records, per block, a 32-bit
//     rolling "weak" hash and the first 16 bytes of its BLAKE3 hash. The signature crosses the
//     network encoded by [Signature.AppendBinary] (20 bytes a block, about 320 KiB for a
//     256 MiB file) and is decoded, strictly checked, by [Signature.UnmarshalBinary].
//  2. The sender, which holds the new file, calls [Diff]. It slides a block-sized window over
//     the new file one byte at a time, updating the weak hash in O(1) per byte, and looks it up
//     in a table built from the signature. Only when the weak hash is known does it compute
//     BLAKE3 of the window; if that matches too, it emits "copy this old block" and jumps a
//     whole block ahead. Bytes that match nothing are emitted as literals. Because the window
//     slides byte by byte, data shifted by insertions or deletions is still found.
//  3. The receiver feeds each [Op] to a [Patcher], which copies blocks from the old file and
//     writes literals, producing the new file sequentially (normally into a temporary file
//     that is renamed over the old one once complete). The Patcher re-hashes every block it
//     copies and fails with [ErrOldChanged] if the old file no longer matches its signature.
//
// [BlockSize] picks the block size: about the square root of the file size, so that both the
// signature and the bytes resent around each change stay small (see its comment).
//
// As in rsync, the short last block of the old file is matched only at the very end of the
// new file. Nothing here buffers whole files: Sign, Diff and the Patcher stream through
// buffers of one to two megabytes.
package delta
