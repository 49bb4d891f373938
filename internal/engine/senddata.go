package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/ferrydvm/ferry/internal/delta"
	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

const (
	chunkSize  = 1 << 20   // data per piece of a large file
	smallFile  = 64 << 10  // files up to this size travel whole, several per frame
	batchBytes = 256 << 10 // a frame of small files is sent once it holds this much
)

// dataWorker sends the files the receiver asked for. Small files are gathered into shared
// frames, which are sent when full or when no other job is waiting. It returns when ctx
// ends (the run is over, or failing: see writeLoop) or the queue is closed.
func (s *sender) dataWorker(ctx context.Context, out *outbox) {
	var batch wire.Enc
	var count uint64
	var data carried // the file bytes in batch
	flush := func() {
		s.sendCounted(out, tData, nil, count, &batch, data)
		count, data = 0, carried{}
	}
	for {
		j := s.jobs.tryPop()
		if j == nil {
			flush()
			if j = s.jobs.pop(); j == nil {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		if j.need.How == needWhole && j.entry.Size <= smallFile && !j.entry.Sparse {
			if err := s.appendSmall(&batch, j); err != nil {
				s.failFile(out, j, err)
				continue
			}
			count++
			data.sent += j.entry.Size
			data.transferred += j.entry.Size
			if len(batch.B) >= batchBytes {
				flush()
			}
			continue
		}
		if err := s.sendLarge(ctx, out, j); err != nil {
			if ctx.Err() != nil {
				return // the run is ending: not this file's failure
			}
			s.failFile(out, j, err)
		}
	}
}

// sendCounted sends a frame of count items (body) after the header values, within the data
// budget, and empties body. Nothing is sent for no items. data is the file data in body.
func (s *sender) sendCounted(out *outbox, t wire.Type, header []uint64, count uint64, body *wire.Enc, data carried) {
	if count == 0 {
		return
	}
	var hdr wire.Enc
	for _, v := range header {
		hdr.Uvarint(v)
	}
	hdr.Uvarint(count)
	payload := append(hdr.B, body.B...)
	s.budget.take(len(payload))
	out.sendData(t, payload, data)
	body.B = nil
}

// failFile reports a file the sender could not read; the receiver drops what it has of it.
// The report travels on the stream that carried the file's data, so it arrives after it.
func (s *sender) failFile(out *outbox, j *job, err error) {
	s.fileError(j.entry.Path, err)
	m := &msgError{Index: j.need.Index, Message: fmt.Sprintf("%s: %v", quote(j.entry.Path), err)}
	out.send(tFileError, encode(m.encode))
}

func (s *sender) open(x *entry) (*os.File, error) {
	f, err := s.root.OpenFile(x.Path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, errors.New("no longer a regular file")
	}
	return f, nil
}

// appendSmall adds one whole small file to a shared frame.
func (s *sender) appendSmall(batch *wire.Enc, j *job) error {
	f, err := s.open(j.entry)
	if err != nil {
		return err
	}
	defer f.Close()
	size := int(j.entry.Size)
	if batch.B == nil { // a new frame: room for a full one, instead of growing it by doubling
		batch.B = make([]byte, 0, batchBytes+smallFile+64)
	}
	mark := len(batch.B)
	batch.Uvarint(j.need.Index)
	batch.Varint(0)
	batch.Uvarint(uint64(size))
	start := len(batch.B)
	batch.B = slices.Grow(batch.B, size)[:start+size]
	if _, err := io.ReadFull(f, batch.B[start:]); err != nil {
		batch.B = batch.B[:mark]
		return fmt.Errorf("read: %w (the file changed while being copied)", err)
	}
	sum := blake3.Sum256(batch.B[start:])
	batch.Bool(true)
	batch.Bytes(sum[:])
	return nil
}

// sendLarge streams one file in pieces: whole, from a resume offset, or as a delta.
func (s *sender) sendLarge(ctx context.Context, out *outbox, j *job) error {
	f, err := s.open(j.entry)
	if err != nil {
		return err
	}
	defer f.Close()
	h := blake3.New()
	var from int64
	switch j.need.How {
	case needDelta:
		return s.sendDelta(ctx, out, f, h, j)
	case needResume:
		if ok, err := prefixMatches(f, h, j.need.Offset, j.need.Prefix); err != nil {
			return err
		} else if ok {
			from = j.need.Offset
		} else {
			h.Reset()
		}
	}
	extents := []scan.Extent{{Off: 0, Len: j.entry.Size}}
	if j.entry.Sparse {
		if extents, err = scan.DataExtents(f, j.entry.Size); err != nil {
			return err
		}
	}
	w := &pieceWriter{s: s, out: out, index: j.need.Index, h: h, pos: from}
	if j.need.How == needResume || j.entry.Size == 0 {
		// Tell the receiver where this transfer starts: after its partial copy, or at 0 when
		// that copy no longer matches (the first data of a sparse file may lie further on).
		w.start(from)
	}
	for _, ext := range extents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		end := ext.Off + ext.Len
		if end <= from {
			continue
		}
		if err := w.copyRange(ctx, f, max(ext.Off, from), end); err != nil {
			return err
		}
	}
	w.finish(j.entry.Size)
	return nil
}

// prefixMatches hashes the first n bytes of f into h and compares with want.
func prefixMatches(f *os.File, h *blake3.Hasher, n int64, want []byte) (bool, error) {
	if _, err := io.CopyN(h, f, n); err != nil {
		if err == io.EOF {
			return false, nil // the source is shorter than the receiver's partial copy
		}
		return false, fmt.Errorf("read: %w", err)
	}
	return bytes.Equal(h.Sum(nil), want), nil
}

// pieceWriter sends the pieces of one file in order and keeps its digest, feeding zeros
// for holes.
type pieceWriter struct {
	s     *sender
	out   *outbox
	index uint64
	h     hash.Hash
	pos   int64
	// counted is how much of the file the frames sent so far account for, for
	// Progress: up to the end of the last piece, holes included.
	counted int64
}

// upTo is what a frame reaching offset end of the file adds to the bytes transferred.
func (w *pieceWriter) upTo(end int64) int64 {
	n := max(end-w.counted, 0)
	w.counted += n
	return n
}

var zeros = make([]byte, 64<<10)

func (w *pieceWriter) hashZeros(n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		w.h.Write(zeros[:k])
		n -= k
	}
}

// start sends an empty piece at offset off: the receiver keeps its first off bytes.
func (w *pieceWriter) start(off int64) {
	w.send(off, nil, false, nil, carried{transferred: w.upTo(off)})
}

// copyRange sends the data of f from off to end, in pieces; it stops early when ctx ends
// (the run failed or is over: the rest of a large file is not read for nothing).
func (w *pieceWriter) copyRange(ctx context.Context, f *os.File, off, end int64) error {
	w.hashZeros(off - w.pos)
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(end-off, chunkSize))
		e := wire.Enc{B: getChunk()}
		e.Uvarint(1)
		e.Uvarint(w.index)
		e.Varint(off)
		e.Uvarint(uint64(n))
		start := len(e.B)
		e.B = e.B[:start+n]
		if _, err := f.ReadAt(e.B[start:], off); err != nil {
			return fmt.Errorf("read at %d: %w (the file changed while being copied)", off, err)
		}
		w.h.Write(e.B[start:])
		e.Bool(false)
		w.s.budget.take(len(e.B))
		w.out.sendData(tData, e.B, carried{sent: int64(n), transferred: w.upTo(off + int64(n))})
		off += int64(n)
	}
	w.pos = end
	return nil
}

// chunkCap is the capacity of a pooled piece buffer: a chunk of data and its header.
const chunkCap = chunkSize + 64

var chunkPool = sync.Pool{New: func() any { return make([]byte, 0, chunkCap) }}

// getChunk returns an empty buffer for one piece of a large file.
func getChunk() []byte { return chunkPool.Get().([]byte)[:0] }

// putChunk takes back a piece buffer once its frame is written.
func putChunk(b []byte) {
	if cap(b) == chunkCap {
		chunkPool.Put(b[:0])
	}
}

// finish sends the final piece with the digest of the whole content.
func (w *pieceWriter) finish(size int64) {
	w.hashZeros(size - w.pos)
	w.send(size, nil, true, w.h.Sum(nil), carried{transferred: w.upTo(size)})
}

func (w *pieceWriter) send(off int64, data []byte, final bool, digest []byte, c carried) {
	p := &piece{Index: w.index, Offset: off, Data: data, Final: final, Digest: digest}
	payload := encode(func(e *wire.Enc) { e.Uvarint(1); encodePiece(e, p) })
	w.s.budget.take(len(payload))
	w.out.sendData(tData, payload, c)
}

// sendDelta sends the file as operations against the receiver's copy, then a final piece.
func (s *sender) sendDelta(ctx context.Context, out *outbox, f *os.File, h *blake3.Hasher, j *job) error {
	var sig delta.Signature
	if err := sig.UnmarshalBinary(j.need.Signature); err != nil {
		return fmt.Errorf("receiver's signature: %w", err)
	}
	var ops wire.Enc
	var count uint64
	w := &pieceWriter{s: s, out: out, index: j.need.Index, h: h, pos: j.entry.Size}
	var data carried // what the ops in ops stand for
	flush := func() {
		s.sendCounted(out, tDelta, []uint64{j.need.Index}, count, &ops, data)
		count, data = 0, carried{}
	}
	err := delta.Diff(ctx, &sig, io.TeeReader(f, h), func(op delta.Op) error {
		encodeOp(&ops, op)
		data.sent += int64(len(op.Literal))
		data.transferred += w.upTo(min(w.counted+opLen(&sig, op), j.entry.Size))
		count++
		if len(ops.B) >= chunkSize {
			flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compute delta: %w", err)
	}
	flush()
	w.finish(j.entry.Size)
	return nil
}

// opLen is the number of bytes of the new file an op produces: a copy's blocks of the old
// file (its last block may be short), or a literal.
func opLen(sig *delta.Signature, op delta.Op) int64 {
	if op.Count == 0 {
		return int64(len(op.Literal))
	}
	bs := int64(sig.BlockSize)
	from := int64(op.Block) * bs
	return max(min(from+int64(op.Count)*bs, sig.Size)-from, 0)
}

// encodeOp writes a delta op: a copy (count > 0) or a literal.
func encodeOp(e *wire.Enc, op delta.Op) {
	if op.Count > 0 {
		e.U8(1)
		e.Uvarint(uint64(op.Block))
		e.Uvarint(uint64(op.Count))
		return
	}
	e.U8(2)
	e.Bytes(op.Literal)
}

// digestFile is the BLAKE3 digest of a file's content, for --checksum.
func digestFile(root *scan.Root, rel string) ([]byte, error) {
	f, err := root.OpenFile(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
