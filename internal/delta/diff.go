package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxLiteral bounds the bytes of one literal Op.
const MaxLiteral = 256 << 10

// smallBuf is what Diff first reads beyond two blocks: small files need no more.
const smallBuf = 16 << 10

// Op is one instruction of a delta: copy Count blocks from the old file starting at block
// Block (when Count > 0), or write Literal (when it is not empty). Literal is only valid until
// the emit callback returns.
type Op struct {
	Block, Count int
	Literal      []byte
}

// Diff reads the new file from r and calls emit for each Op that rebuilds it from the old
// file described by sig, in order. Copies of consecutive blocks are merged into one Op;
// literals are at most MaxLiteral bytes. An error from emit stops Diff and is returned as is.
func Diff(ctx context.Context, sig *Signature, r io.Reader, emit func(Op) error) error {
	if err := sig.check(); err != nil {
		return err
	}
	m := newMatcher(sig, r, emit)
	if err := m.run(ctx); err != nil {
		return err
	}
	return m.finish()
}

// matcher is the state of one Diff. The new file streams through buf: buf[lit:pos] is the
// pending literal, buf[pos:pos+bs] the window being matched, buf[pos+bs:end] read ahead.
type matcher struct {
	sig    *Signature
	bs     int
	idx    *index
	out    *outTable
	r      io.Reader
	emit   func(Op) error
	buf    []byte
	maxBuf int
	lit    int
	pos    int
	end    int
	eof    bool
	block  int // pending copy: Count blocks from Block, not yet emitted
	count  int

	strong   [16]byte // strong hash of the window at strongAt-1
	strongAt int
}

func newMatcher(sig *Signature, r io.Reader, emit func(Op) error) *matcher {
	bs := sig.BlockSize
	maxBuf := MaxLiteral + 2*bs + readChunk // see makeRoom
	return &matcher{
		sig:    sig,
		bs:     bs,
		idx:    newIndex(sig.Blocks[:sig.fullBlocks()]),
		out:    newOutTable(bs),
		r:      r,
		emit:   emit,
		buf:    make([]byte, min(2*bs+smallBuf, maxBuf)),
		maxBuf: maxBuf,
	}
}

// run matches full windows until fewer than a block of the new file remains.
func (m *matcher) run(ctx context.Context) error {
	var weak uint32
	valid := false // whether weak is the hash of the current window
	for {
		if m.end-m.pos <= m.bs && !m.eof {
			if err := m.fill(ctx); err != nil {
				return err
			}
		}
		if m.end-m.pos < m.bs {
			return nil
		}
		b := -1
		if !valid {
			if b = m.continuation(); b < 0 {
				weak, valid = weakSum(m.window()), true
			}
		}
		if valid {
			b = m.match(weak)
		}
		if b >= 0 {
			if err := m.copyBlock(b); err != nil {
				return err
			}
			m.pos += m.bs
			m.lit, valid = m.pos, false
			continue
		}
		if m.end-m.pos == m.bs {
			return nil // at the end of the file: no byte left to roll in
		}
		if m.pos-m.lit >= MaxLiteral {
			if err := m.flushLiteral(m.pos); err != nil {
				return err
			}
		}
		weak = m.roll(weak, min(m.end-m.pos-m.bs, MaxLiteral-(m.pos-m.lit)))
	}
}

func (m *matcher) window() []byte { return m.buf[m.pos : m.pos+m.bs] }

// windowStrong returns the strong hash of the window, computed once per position.
func (m *matcher) windowStrong() [16]byte {
	if m.strongAt != m.pos+1 {
		m.strong, m.strongAt = strongSum(m.window()), m.pos+1
	}
	return m.strong
}

// continuation returns the block after the pending copy if the window, right after that copy,
// equals it; else -1. That block is the likeliest match, and comparing strong hashes at once
// spares unchanged data its weak hash; a miss wastes at most one strong hash per copy.
func (m *matcher) continuation() int {
	want := m.block + m.count
	if m.count == 0 || m.lit != m.pos || want >= len(m.idx.blocks) {
		return -1
	}
	if m.windowStrong() != m.idx.blocks[want].Strong {
		return -1
	}
	return want
}

// match returns an old block equal to the window, or -1. It prefers the block that would
// extend the pending copy, so runs of identical blocks (zeroes) merge into one Op.
func (m *matcher) match(weak uint32) int {
	if !m.idx.filter.mayHave(weak) {
		return -1
	}
	if want := m.block + m.count; m.count > 0 && want < len(m.idx.blocks) {
		if b := m.idx.blocks[want]; b.Weak == weak && b.Strong == m.windowStrong() {
			return want
		}
	}
	return m.idx.find(weak, m.windowStrong)
}

// roll slides the window up to steps bytes and stops early where the weak hash may match a
// block. It returns the weak hash of the new window. This is the loop that runs once per
// byte of changed data.
func (m *matcher) roll(weak uint32, steps int) uint32 {
	out := m.buf[m.pos : m.pos+steps]
	in := m.buf[m.pos+m.bs:][:len(out)]
	t, f := m.out, m.idx.filter
	for i, o := range out {
		weak = t.roll(weak, o, in[i])
		if f.mayHave(weak) {
			m.pos += i + 1
			return weak
		}
	}
	m.pos += steps
	return weak
}

// fill reads until a window and one more byte are in buf, or the file ends.
func (m *matcher) fill(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	need := m.bs + 1 - (m.end - m.pos)
	if len(m.buf)-m.end < need {
		m.makeRoom(need)
	}
	got, err := io.ReadAtLeast(m.r, m.buf[m.end:], need)
	m.end += got
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		m.eof = true
	} else if err != nil {
		return fmt.Errorf("read new file: %w", err)
	}
	return nil
}

// makeRoom moves the pending literal and the window to the front of buf, to make room for
// need more bytes. buf starts small, for small files, and doubles up to maxBuf: enough for a
// MaxLiteral, two blocks and readChunk, so that moves happen once per readChunk bytes or so,
// however little each Read returns.
func (m *matcher) makeRoom(need int) {
	kept := m.buf[m.lit:m.end]
	buf := m.buf
	if len(buf) < m.maxBuf {
		buf = make([]byte, min(max(2*len(buf), len(kept)+need), m.maxBuf))
	}
	copy(buf, kept)
	m.buf = buf
	m.pos -= m.lit
	m.end, m.lit = len(kept), 0
	m.strongAt = 0 // positions moved
}

// finish handles the last, shorter-than-a-block bytes of the new file: they may match the
// old file's short last block; what does not match is literal.
func (m *matcher) finish() error {
	if n := m.sig.lastLen(); n > 0 && m.end-m.pos >= n {
		last := len(m.sig.Blocks) - 1
		tail := m.buf[m.end-n : m.end]
		if b := m.sig.Blocks[last]; b.Weak == weakSum(tail) && b.Strong == strongSum(tail) {
			m.pos = m.end - n
			if err := m.copyBlock(last); err != nil {
				return err
			}
			m.pos, m.lit = m.end, m.end
		}
	}
	if err := m.flushLiteral(m.end); err != nil {
		return err
	}
	return m.flushCopy()
}

// copyBlock records that old block b comes next, after the pending literal.
func (m *matcher) copyBlock(b int) error {
	if m.lit == m.pos && m.count > 0 && b == m.block+m.count {
		m.count++
		return nil
	}
	if err := m.flushLiteral(m.pos); err != nil {
		return err
	}
	if err := m.flushCopy(); err != nil {
		return err
	}
	m.block, m.count = b, 1
	return nil
}

// flushLiteral emits the pending copy, then buf[lit:to] as literals, and moves lit to to.
func (m *matcher) flushLiteral(to int) error {
	if m.lit == to {
		return nil
	}
	if err := m.flushCopy(); err != nil {
		return err
	}
	for m.lit < to {
		n := min(to-m.lit, MaxLiteral)
		if err := m.emit(Op{Literal: m.buf[m.lit : m.lit+n]}); err != nil {
			return err
		}
		m.lit += n
	}
	return nil
}

// flushCopy emits the pending copy, if any.
func (m *matcher) flushCopy() error {
	if m.count == 0 {
		return nil
	}
	op := Op{Block: m.block, Count: m.count}
	m.count = 0
	return m.emit(op)
}
