package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrydvm/ferry/internal/treegen"
)

// BenchmarkResyncLoopback re-sends an unchanged tree of 50,000 small files to a receiver
// that already has it: the cost of comparing, which a cutover pays.
func BenchmarkResyncLoopback(b *testing.B) {
	base, err := os.MkdirTemp("/dev/shm", "ferry-bench")
	if err != nil {
		b.Skip("no /dev/shm")
	}
	defer os.RemoveAll(base)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	if _, err := treegen.Generate(context.Background(), src, treegen.Spec{SmallFiles: 50000, SmallSize: 4096, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	os.Mkdir(dst, 0o755)
	t := &testing.T{}
	addr := receiverAt(t, dst)
	if _, err := sendTo(t, addr, src, 0, Options{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := sendTo(t, addr, src, 0, Options{})
		if err != nil || res.Transferred != 0 {
			b.Fatalf("resync: %v, %d files sent", err, res.Transferred)
		}
	}
}
