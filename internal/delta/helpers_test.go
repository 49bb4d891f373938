package delta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// random returns n bytes of ChaCha8 output for seed.
func random(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// join returns the concatenation of parts in a new slice.
func join(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// checkWriter compares what is written to it with want, without keeping a copy.
type checkWriter struct {
	want []byte
	off  int
	bad  error
}

func (c *checkWriter) Write(p []byte) (int, error) {
	if c.bad == nil {
		rest := c.want[c.off:]
		if len(p) > len(rest) {
			c.bad = fmt.Errorf("output longer than the new file's %d bytes", len(c.want))
		} else if i := mismatch(p, rest); i >= 0 {
			c.bad = fmt.Errorf("output differs from the new file at offset %d", c.off+i)
		}
	}
	c.off += len(p)
	return len(p), nil
}

// mismatch returns the first index where a differs from the start of b, or -1.
func mismatch(a, b []byte) int {
	if bytes.Equal(a, b[:len(a)]) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// check reports whether everything written equals want.
func (c *checkWriter) check() error {
	if c.bad == nil && c.off != len(c.want) {
		return fmt.Errorf("output is %d bytes, the new file %d", c.off, len(c.want))
	}
	return c.bad
}

// stats sums up a delta as it would cross the network.
type stats struct {
	sigBytes int // encoded signature
	literal  int // literal bytes
	ops      int
}

// roundTrip signs old, sends the signature through its encoding, diffs newer against it and
// patches old with the result, checking that the ops are well formed and that the output is
// newer. It returns what crossed the wire.
func roundTrip(t testing.TB, old, newer []byte, blockSize int, r io.Reader) stats {
	t.Helper()
	ctx := context.Background()
	sig, err := Sign(ctx, bytes.NewReader(old), int64(len(old)), blockSize)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Signature
	if err := got.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	out := &checkWriter{want: newer}
	p := NewPatcher(bytes.NewReader(old), &got, out)
	st := stats{sigBytes: len(enc)}
	var prev Op
	err = Diff(ctx, &got, r, func(op Op) error {
		if err := checkOp(prev, op); err != nil {
			return err
		}
		st.ops++
		st.literal += len(op.Literal)
		prev = Op{Block: op.Block, Count: op.Count} // op.Literal is not ours to keep
		return p.Apply(op)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.check(); err != nil {
		t.Fatal(err)
	}
	return st
}

// checkOp reports an op that is malformed, too long, or a copy that should have been merged
// into the previous one.
func checkOp(prev, op Op) error {
	switch {
	case (op.Count > 0) == (len(op.Literal) > 0) || op.Count < 0:
		return fmt.Errorf("malformed op %+v", op)
	case len(op.Literal) > MaxLiteral:
		return fmt.Errorf("literal of %d bytes, more than %d", len(op.Literal), MaxLiteral)
	case op.Count > 0 && prev.Count > 0 && prev.Block+prev.Count == op.Block:
		return fmt.Errorf("copy %+v not merged into the copy before it, %+v", op, prev)
	}
	return nil
}
