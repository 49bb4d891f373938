package delta

import (
	"encoding/binary"
	"fmt"
)

// The encoding of a Signature, all integers little-endian:
//
//	"FDS1"         magic and version
//	uint32         block size
//	uint64         file size
//	n × 20 bytes   per block: uint32 weak hash, 16-byte strong hash
//
// The block count n is not sent: it follows from the sizes, and the decoder demands exactly
// that many blocks, so what it allocates is bounded by the length of its input.
const (
	sigMagic      = "FDS1"
	sigHeaderLen  = len(sigMagic) + 4 + 8
	sigBlockBytes = 4 + 16
)

// AppendBinary appends the encoding of s to b.
func (s *Signature) AppendBinary(b []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return b, err
	}
	b = append(b, sigMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(s.BlockSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.Size))
	for _, blk := range s.Blocks {
		b = binary.LittleEndian.AppendUint32(b, blk.Weak)
		b = append(b, blk.Strong[:]...)
	}
	return b, nil
}

// MarshalBinary returns the encoding of s.
func (s *Signature) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, sigHeaderLen+len(s.Blocks)*sigBlockBytes))
}

// UnmarshalBinary decodes data, which may come from an untrusted peer, into s. Errors wrap
// ErrInvalidSignature.
func (s *Signature) UnmarshalBinary(data []byte) error {
	if len(data) < sigHeaderLen || string(data[:len(sigMagic)]) != sigMagic {
		return fmt.Errorf("%w: no %s header in %d bytes", ErrInvalidSignature, sigMagic, len(data))
	}
	bs := binary.LittleEndian.Uint32(data[4:])
	size := binary.LittleEndian.Uint64(data[8:])
	n, err := checkShape(int(bs), int64(size)) // a size above 2^63 turns negative and fails
	if err != nil {
		return err
	}
	body := data[sigHeaderLen:]
	if int64(len(body)) != int64(n)*sigBlockBytes {
		return fmt.Errorf("%w: %d bytes of blocks, want %d for %d blocks",
			ErrInvalidSignature, len(body), int64(n)*sigBlockBytes, n)
	}
	blocks := make([]Block, n)
	for i := range blocks {
		rec := body[i*sigBlockBytes : (i+1)*sigBlockBytes]
		blocks[i].Weak = binary.LittleEndian.Uint32(rec)
		copy(blocks[i].Strong[:], rec[4:])
	}
	*s = Signature{BlockSize: int(bs), Size: int64(size), Blocks: blocks}
	return nil
}
