package treegen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// largeChunk is the unit of large-file content: each chunk has its own ChaCha8 stream, so
// chunks are generated and written in parallel.
const largeChunk = 1 << 20

// largeName is the path, relative to the root, of the i-th large file.
func largeName(i int) string { return fmt.Sprintf("large/L%03d.bin", i) }

// genLarge writes s.LargeFiles files of s.LargeSize random bytes under large/.
func genLarge(ctx context.Context, dir string, s Spec) (st Stats, err error) {
	if s.LargeFiles <= 0 {
		return Stats{}, nil
	}
	if err := mkdir(filepath.Join(dir, "large"), 0o755); err != nil {
		return Stats{}, err
	}
	files := make([]*os.File, s.LargeFiles)
	defer func() {
		for _, f := range files {
			if f != nil {
				err = errors.Join(err, f.Close())
			}
		}
	}()
	for i := range files {
		if files[i], err = createLarge(dir, i, s.LargeSize); err != nil {
			return Stats{}, err
		}
	}
	chunks := int((s.LargeSize + largeChunk - 1) / largeChunk)
	err = parallel(ctx, s.LargeFiles*chunks, largeChunk, func(j int, buf []byte) error {
		return writeChunk(files[j/chunks], s, j/chunks, j%chunks, buf)
	})
	if err != nil {
		return Stats{}, err
	}
	for i := range files {
		if err := setTime(files[i].Name(), pathTime(largeName(i))); err != nil {
			return Stats{}, err
		}
	}
	st = Stats{Files: int64(s.LargeFiles), Dirs: 1, Bytes: int64(s.LargeFiles) * s.LargeSize}
	return st, setTime(filepath.Join(dir, "large"), pathTime("large"))
}

func createLarge(dir string, i int, size int64) (*os.File, error) {
	path := filepath.Join(dir, largeName(i))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Truncate(size)
	}
	if err != nil {
		return f, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}

// writeChunk writes chunk c of large file i.
func writeChunk(f *os.File, s Spec, i, c int, buf []byte) error {
	off := int64(c) * largeChunk
	b := buf[:min(largeChunk, s.LargeSize-off)]
	fillRand(b, s.Seed, streamLarge, uint64(i), uint64(c))
	if _, err := f.WriteAt(b, off); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}
