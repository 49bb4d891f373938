package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLargeFileLoopback copies one 512 MiB file over loopback TCP (no TLS), on tmpfs:
// the engine's own cost per byte (read, hash, frame, write, verify).
func BenchmarkLargeFileLoopback(b *testing.B) {
	base, err := os.MkdirTemp("/dev/shm", "ferry-bench")
	if err != nil {
		b.Skip("no /dev/shm")
	}
	defer os.RemoveAll(base)
	src := filepath.Join(base, "src")
	os.Mkdir(src, 0o755)
	t := &testing.T{}
	randomFile(t, filepath.Join(src, "big"), 512<<20, 1)
	b.SetBytes(512 << 20)
	for i := 0; b.Loop(); i++ {
		dst := filepath.Join(base, "dst")
		os.RemoveAll(dst)
		os.Mkdir(dst, 0o755)
		addr := receiverAt(t, dst)
		if _, err := sendTo(t, addr, src, 0, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
