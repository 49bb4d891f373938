package treegen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func benchGenerate(b *testing.B, s Spec, bytes int64) {
	base := b.TempDir()
	b.SetBytes(bytes)
	i := 0
	for b.Loop() {
		dir := filepath.Join(base, fmt.Sprint(i))
		i++
		if _, err := Generate(context.Background(), dir, s); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkGenerateSmall50k is 50,000 files of 4 KiB.
func BenchmarkGenerateSmall50k(b *testing.B) {
	benchGenerate(b, Spec{SmallFiles: 50000, Seed: 1}, 50000*4096)
}

// BenchmarkGenerateLarge1GiB is one file of 1 GiB.
func BenchmarkGenerateLarge1GiB(b *testing.B) {
	benchGenerate(b, Spec{LargeFiles: 1, LargeSize: 1 << 30, Seed: 1}, 1<<30)
}
