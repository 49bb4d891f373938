package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrydvm/ferry/internal/treegen"
)

// BenchmarkSmallFilesLoopback sends 20,000 files of 4 KiB to an empty receiver in memory
// (/dev/shm): the cost per file of the engine itself, without disks or TLS.
func BenchmarkSmallFilesLoopback(b *testing.B) {
	base, err := os.MkdirTemp("/dev/shm", "ferry-bench")
	if err != nil {
		b.Skip("no /dev/shm")
	}
	defer os.RemoveAll(base)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	if _, err := treegen.Generate(context.Background(), src, treegen.Spec{SmallFiles: 20000, SmallSize: 4096, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	os.Mkdir(dst, 0o755)
	addr := receiverAt(&testing.T{}, dst)
	b.SetBytes(20000 * 4096)
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(dst)
		os.Mkdir(dst, 0o755)
		b.StartTimer()
		res, err := sendTo(&testing.T{}, addr, src, 0, Options{})
		if err != nil || res.Transferred != 20000 {
			b.Fatalf("send: %v, %d files sent", err, res.Transferred)
		}
	}
}
