package delta

import (
	"errors"
	"fmt"
	"io"
)

// ErrOldChanged means a block read from the old file no longer matches its signature: the
// file changed after it was signed, so the delta cannot be applied. Sign it again and ask
// for a new delta.
var ErrOldChanged = errors.New("old file changed since it was signed")

// Patcher rebuilds the new file from the old one and a delta. It writes sequentially to its
// writer, normally a temporary file renamed over the old one once the last Op is applied.
type Patcher struct {
	old     io.ReaderAt
	sig     *Signature
	w       io.Writer
	buf     []byte
	written int64
	err     error // sticky: once an Op failed, the output is incomplete
}

// NewPatcher returns a Patcher that copies blocks from old, described by sig, and writes the
// result to w.
func NewPatcher(old io.ReaderAt, sig *Signature, w io.Writer) *Patcher {
	p := &Patcher{old: old, sig: sig, w: w}
	if err := sig.check(); err != nil {
		p.err = err
	}
	return p
}

// Written returns how many bytes the Patcher has written.
func (p *Patcher) Written() int64 { return p.written }

// Apply carries out one Op. Copied blocks are checked against the signature; if one differs,
// the error wraps ErrOldChanged. After an error every later Apply returns it again.
func (p *Patcher) Apply(op Op) error {
	if p.err != nil {
		return p.err
	}
	switch {
	case op.Count > 0 && len(op.Literal) == 0:
		p.err = p.copyBlocks(op.Block, op.Count)
	case op.Count == 0 && len(op.Literal) > 0:
		p.err = p.write(op.Literal)
	default:
		p.err = fmt.Errorf("malformed op: block %d, count %d, %d literal bytes",
			op.Block, op.Count, len(op.Literal))
	}
	return p.err
}

// copyBlocks copies count blocks from block first, a megabyte or so at a time.
func (p *Patcher) copyBlocks(first, count int) error {
	n := len(p.sig.Blocks)
	if first < 0 || first >= n || count > n-first {
		return fmt.Errorf("copy blocks [%d, %d): the old file has %d blocks",
			first, first+count, n)
	}
	bs := p.sig.BlockSize
	if p.buf == nil {
		p.buf = make([]byte, chunkSize(p.sig.Size, bs))
	}
	perRead := len(p.buf) / bs
	for b := first; b < first+count; b += perRead {
		k := min(perRead, first+count-b)
		off := int64(b) * int64(bs)
		chunk := p.buf[:min(int64(k*bs), p.sig.Size-off)]
		if err := p.readOld(chunk, off); err != nil {
			return err
		}
		if err := p.verify(b, chunk); err != nil {
			return err
		}
		if err := p.write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// verify checks the blocks from block first held in chunk against the signature.
func (p *Patcher) verify(first int, chunk []byte) error {
	for i := 0; len(chunk) > 0; i++ {
		blk := chunk[:min(p.sig.BlockSize, len(chunk))]
		if strongSum(blk) != p.sig.Blocks[first+i].Strong {
			return fmt.Errorf("copy block %d: %w", first+i, ErrOldChanged)
		}
		chunk = chunk[len(blk):]
	}
	return nil
}

func (p *Patcher) write(b []byte) error {
	n, err := p.w.Write(b)
	p.written += int64(n)
	if err != nil {
		return fmt.Errorf("write new file: %w", err)
	}
	return nil
}

// readOld fills b from the old file at off. Running into the end of the file means the old
// file shrank since it was signed.
func (p *Patcher) readOld(b []byte, off int64) error {
	got, err := p.old.ReadAt(b, off)
	switch {
	case got == len(b):
		return nil
	case err == nil || err == io.EOF:
		return fmt.Errorf("read old file: it ends at offset %d, before its signed size %d: %w",
			off+int64(got), p.sig.Size, ErrOldChanged)
	default:
		return fmt.Errorf("read old file at offset %d: %w", off, err)
	}
}
