package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/zeebo/blake3"
)

// Block sizes accepted by Sign, Diff and the signature decoder. BlockSize itself picks sizes
// in [4 KiB, 1 MiB]; smaller ones are allowed for tests and tiny files.
const (
	MinBlockSize = 16
	MaxBlockSize = 1 << 20
)

// maxBlocks bounds the number of blocks of a signature, so that block numbers fit the
// int32 links of the lookup table.
const maxBlocks = math.MaxInt32

// readChunk is how much Sign, Diff and the Patcher read at a time.
const readChunk = 1 << 20

// ErrInvalidSignature is wrapped by the errors for a signature that is inconsistent or
// malformed, such as one decoded from a peer that sent garbage.
var ErrInvalidSignature = errors.New("invalid signature")

// Block describes one block of the old file.
type Block struct {
	Weak   uint32   // rolling hash, see weakSum
	Strong [16]byte // first 16 bytes of the BLAKE3 hash
}

// Signature describes the old file: its size and, for each block, its hashes. The last block
// is short when Size is not a multiple of BlockSize.
type Signature struct {
	BlockSize int
	Size      int64
	Blocks    []Block
}

// BlockSize picks a block size for a file of size bytes: the square root of the size, rounded
// up to a multiple of 4 KiB, within [4 KiB, 1 MiB] (16 KiB for 256 MiB; 1 MiB from 1 TiB).
//
// Each changed region resends up to about two blocks, and the signature costs 20 bytes a
// block, so k changed regions cost about 2k·bs + 20·size/bs, least at bs = sqrt(10·size/k).
// sqrt(size) is that best size for ten changed regions and still cheap for one: for 256 MiB,
// a 320 KiB signature (0.12%) plus 32 KiB a change. Multiples of 4 KiB keep copies
// page-aligned.
func BlockSize(size int64) int {
	const page = 4 << 10
	root := int64(math.Sqrt(float64(max(size, 0))))
	bs := (root + page - 1) / page * page
	return int(min(max(bs, page), MaxBlockSize))
}

// numBlocks returns how many blocks a file of size bytes has, the last one maybe short.
func numBlocks(size int64, blockSize int) int64 {
	n := size / int64(blockSize)
	if size%int64(blockSize) != 0 {
		n++
	}
	return n
}

// checkShape validates a block size and file size, and returns the number of blocks.
func checkShape(blockSize int, size int64) (int, error) {
	if blockSize < MinBlockSize || blockSize > MaxBlockSize {
		return 0, fmt.Errorf("%w: block size %d outside [%d, %d]",
			ErrInvalidSignature, blockSize, MinBlockSize, MaxBlockSize)
	}
	if size < 0 {
		return 0, fmt.Errorf("%w: negative size %d", ErrInvalidSignature, size)
	}
	n := numBlocks(size, blockSize)
	if n > maxBlocks {
		return 0, fmt.Errorf("%w: %d blocks, more than %d", ErrInvalidSignature, n, maxBlocks)
	}
	return int(n), nil
}

// check reports whether the signature is consistent: block size in range and one Block per
// block of Size bytes.
func (s *Signature) check() error {
	n, err := checkShape(s.BlockSize, s.Size)
	if err != nil {
		return err
	}
	if len(s.Blocks) != n {
		return fmt.Errorf("%w: %d blocks for %d bytes in blocks of %d, want %d",
			ErrInvalidSignature, len(s.Blocks), s.Size, s.BlockSize, n)
	}
	return nil
}

// lastLen returns the length of the short last block, or 0 if the last block is full.
func (s *Signature) lastLen() int {
	return int(s.Size % int64(s.BlockSize))
}

// fullBlocks returns how many blocks are BlockSize long.
func (s *Signature) fullBlocks() int {
	return int(s.Size / int64(s.BlockSize))
}

// chunkSize returns how many bytes to read at a time from a file of size bytes: whole blocks,
// about readChunk in all, and no more than the file's blocks hold.
func chunkSize(size int64, blockSize int) int {
	perRead := int64(max(readChunk/blockSize, 1))
	return int(min(perRead, numBlocks(size, blockSize)) * int64(blockSize))
}

// strongSum returns the strong hash of b.
func strongSum(b []byte) (s [16]byte) {
	sum := blake3.Sum256(b)
	copy(s[:], sum[:16])
	return s
}

// Sign reads size bytes of the old file from r and returns their signature. A blockSize of 0
// means BlockSize(size). It fails if r ends before size bytes.
func Sign(ctx context.Context, r io.Reader, size int64, blockSize int) (*Signature, error) {
	if blockSize == 0 {
		blockSize = BlockSize(size)
	}
	n, err := checkShape(blockSize, size)
	if err != nil {
		return nil, err
	}
	// Past a million blocks, grow as data arrives: size may overstate what r holds.
	sig := &Signature{BlockSize: blockSize, Size: size, Blocks: make([]Block, 0, min(n, 1<<20))}
	buf := make([]byte, chunkSize(size, blockSize))
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := buf[:min(int64(len(buf)), size-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the file is shorter than size
			}
			return nil, fmt.Errorf("read old file at offset %d: %w", off, err)
		}
		for b := range slices.Chunk(chunk, blockSize) {
			sig.Blocks = append(sig.Blocks, Block{Weak: weakSum(b), Strong: strongSum(b)})
		}
		off += int64(len(chunk))
	}
	return sig, nil
}
