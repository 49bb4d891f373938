package delta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// applyAll diffs newer against the signature of signed and applies the delta to old.
func applyAll(t *testing.T, signed, old, newer []byte, blockSize int) error {
	t.Helper()
	ctx := context.Background()
	sig, err := Sign(ctx, bytes.NewReader(signed), int64(len(signed)), blockSize)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPatcher(bytes.NewReader(old), sig, io.Discard)
	return Diff(ctx, sig, bytes.NewReader(newer), p.Apply)
}

func TestPatcherDetectsChangedOld(t *testing.T) {
	signed := random(1, 100<<10+10)
	changed := bytes.Clone(signed)
	changed[50<<10] ^= 1
	tests := []struct {
		name string
		old  []byte
	}{
		{"byte flipped", changed},
		{"truncated", signed[:60<<10]},
		{"short block truncated", signed[:len(signed)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := applyAll(t, signed, tt.old, signed, 4<<10)
			if !errors.Is(err, ErrOldChanged) {
				t.Errorf("got %v, want ErrOldChanged", err)
			}
		})
	}
}

func TestPatcherRejectsBadOps(t *testing.T) {
	old := random(1, 10<<10)
	sig, err := Sign(context.Background(), bytes.NewReader(old), int64(len(old)), 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   Op
	}{
		{"empty", Op{}},
		{"negative count", Op{Count: -1}},
		{"copy and literal", Op{Count: 1, Literal: []byte("x")}},
		{"negative block", Op{Block: -1, Count: 1}},
		{"past the end", Op{Block: 2, Count: 2}},
		{"huge count", Op{Block: 1, Count: int(^uint(0) >> 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := NewPatcher(bytes.NewReader(old), sig, &out)
			if err := p.Apply(tt.op); err == nil {
				t.Fatal("accepted")
			}
			if err := p.Apply(Op{Literal: []byte("x")}); err == nil || out.Len() != 0 {
				t.Errorf("after an error: Apply = %v, wrote %d bytes", err, out.Len())
			}
		})
	}
}

func TestPatcherRejectsBadSignature(t *testing.T) {
	sig := &Signature{BlockSize: 4 << 10, Size: 5 << 10, Blocks: make([]Block, 1)}
	p := NewPatcher(bytes.NewReader(nil), sig, io.Discard)
	if err := p.Apply(Op{Literal: []byte("x")}); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("got %v, want ErrInvalidSignature", err)
	}
}

func TestSignShortFile(t *testing.T) {
	_, err := Sign(context.Background(), bytes.NewReader(make([]byte, 10)), 20, 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want ErrUnexpectedEOF", err)
	}
}

func TestDiffStops(t *testing.T) {
	old := random(1, 3<<20)
	sig, err := Sign(context.Background(), bytes.NewReader(old), int64(len(old)), 0)
	if err != nil {
		t.Fatal(err)
	}
	ignore := func(Op) error { return nil }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Diff(ctx, sig, bytes.NewReader(old), ignore); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: got %v", err)
	}
	stop := errors.New("stop")
	err = Diff(context.Background(), sig, bytes.NewReader(old), func(Op) error { return stop })
	if err != stop {
		t.Errorf("emit error: got %v, want it returned as is", err)
	}
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(old[:1<<20]), iotest.ErrReader(boom))
	if err := Diff(context.Background(), sig, r, ignore); !errors.Is(err, boom) {
		t.Errorf("read error: got %v", err)
	}
}
