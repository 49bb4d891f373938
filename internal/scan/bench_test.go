package scan

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// benchTree makes 50,000 small files in 500 directories.
func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	makeFlat(b, root, 50000)
	return root
}

// BenchmarkWalk50k measures Walk over 50,000 files with xattrs captured.
func BenchmarkWalk50k(b *testing.B) {
	root := benchTree(b)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		err := Walk(context.Background(), root, Options{}, func(*Entry) error { n++; return nil }, nil)
		if err != nil || n != 50501 {
			b.Fatalf("walk: %v, %d entries", err, n)
		}
	}
}

// BenchmarkWalkDirBaseline is filepath.WalkDir with lstat and llistxattr per entry, the
// straightforward way, for comparison.
func BenchmarkWalkDirBaseline(b *testing.B) {
	root := benchTree(b)
	buf := make([]byte, 1024)
	b.ResetTimer()
	for b.Loop() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := os.Lstat(p); err != nil {
				return err
			}
			_, err = unix.Llistxattr(p, buf)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
