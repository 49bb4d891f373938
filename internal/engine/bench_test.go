package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrydvm/ferry/internal/treegen"
)

// The loopback benchmarks measure the engine alone: sender and receiver in one process over
// loopback TCP without TLS, on tmpfs (/dev/shm), so neither disks nor proxies blur the cost.

// memTrees makes src and dst in memory; fill writes the source tree.
func memTrees(b *testing.B, fill func(src string) error) (src, dst string) {
	base, err := os.MkdirTemp("/dev/shm", "ferry-bench")
	if err != nil {
		b.Skip("no /dev/shm")
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	src, dst = filepath.Join(base, "src"), filepath.Join(base, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := fill(src); err != nil {
		b.Fatal(err)
	}
	return src, dst
}

func smallTree(n int) func(string) error {
	return func(src string) error {
		_, err := treegen.Generate(context.Background(), src, treegen.Spec{SmallFiles: n, SmallSize: 4096, Seed: 1})
		return err
	}
}

// emptyDir replaces dir with an empty directory, outside the timed part.
func emptyDir(b *testing.B, dir string) {
	b.StopTimer()
	defer b.StartTimer()
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLargeFileLoopback copies one 512 MiB file: the cost per byte (read, hash, frame,
// write, verify).
func BenchmarkLargeFileLoopback(b *testing.B) {
	src, dst := memTrees(b, func(src string) error {
		os.Mkdir(src, 0o755)
		randomFile(b, filepath.Join(src, "big"), 512<<20, 1)
		return nil
	})
	addr := receiverAt(b, dst)
	b.SetBytes(512 << 20)
	for b.Loop() {
		emptyDir(b, dst)
		if _, err := sendTo(b, addr, src, 0, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallFilesLoopback sends 20,000 files of 4 KiB to an empty target: the cost per
// file.
func BenchmarkSmallFilesLoopback(b *testing.B) {
	src, dst := memTrees(b, smallTree(20000))
	addr := receiverAt(b, dst)
	b.SetBytes(20000 * 4096)
	for b.Loop() {
		emptyDir(b, dst)
		res, err := sendTo(b, addr, src, 0, Options{})
		if err != nil || res.Transferred != 20000 {
			b.Fatalf("send: %v, %d files sent", err, res.Transferred)
		}
	}
}

// BenchmarkResyncLoopback re-sends an unchanged tree of 50,000 small files to a receiver
// that already has it: the cost of comparing, which a cutover pays.
func BenchmarkResyncLoopback(b *testing.B) {
	src, dst := memTrees(b, smallTree(50000))
	addr := receiverAt(b, dst)
	if _, err := sendTo(b, addr, src, 0, Options{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := sendTo(b, addr, src, 0, Options{})
		if err != nil || res.Transferred != 0 {
			b.Fatalf("resync: %v, %d files sent", err, res.Transferred)
		}
	}
}
