package delta

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
)

// The benchmarks share one 256 MiB file and its rewritten copy, made once.
var benchFiles = sync.OnceValues(rewritten256MiB)

func benchSignature(b *testing.B, old []byte) *Signature {
	sig, err := Sign(context.Background(), bytes.NewReader(old), int64(len(old)), 0)
	if err != nil {
		b.Fatal(err)
	}
	return sig
}

func BenchmarkSign256MiB(b *testing.B) {
	old, _ := benchFiles()
	b.SetBytes(int64(len(old)))
	for b.Loop() {
		benchSignature(b, old)
	}
}

func BenchmarkDiffUnchanged(b *testing.B) {
	old, _ := benchFiles()
	benchDiff(b, old, old)
}

func BenchmarkDiffRewrite(b *testing.B) {
	old, newer := benchFiles()
	benchDiff(b, old, newer)
}

// BenchmarkDiffUnrelated measures the byte-by-byte path: nothing of the new file matches.
func BenchmarkDiffUnrelated(b *testing.B) {
	old, _ := benchFiles()
	benchDiff(b, old, random(9, 64<<20))
}

func benchDiff(b *testing.B, old, newer []byte) {
	sig := benchSignature(b, old)
	b.SetBytes(int64(len(newer)))
	for b.Loop() {
		err := Diff(context.Background(), sig, bytes.NewReader(newer), func(Op) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPatchUnchanged measures the receiver: copying and verifying every block.
func BenchmarkPatchUnchanged(b *testing.B) {
	old, _ := benchFiles()
	sig := benchSignature(b, old)
	op := Op{Block: 0, Count: len(sig.Blocks)}
	b.SetBytes(int64(len(old)))
	for b.Loop() {
		p := NewPatcher(bytes.NewReader(old), sig, io.Discard)
		if err := p.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}
