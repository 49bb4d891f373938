package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzWriteSparse checks that writeSparse leaves the same content as a plain write and says
// where its data ends: just past the last block that is not all zeros.
func FuzzWriteSparse(f *testing.F) {
	f.Add([]byte{0, 0, 1}, uint16(0), uint16(5000), uint16(3))
	f.Add([]byte{7}, uint16(4095), uint16(9000), uint16(0))
	f.Add([]byte{}, uint16(10), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, seed []byte, off, size, zeroRun uint16) {
		b := make([]byte, size)
		for i := range b { // the seed's bytes, with zeroRun zeros after each: blocks of zeros
			if len(seed) > 0 && i%(int(zeroRun)+1) == 0 {
				b[i] = seed[i%len(seed)]
			}
		}
		fd, err := unix.MemfdCreate("sparse", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		file := os.NewFile(uintptr(fd), "sparse")
		defer file.Close()
		n, end, err := writeSparse(file, b, int64(off))
		if err != nil || n != len(b) {
			t.Fatalf("writeSparse: %d, %v", n, err)
		}
		var wantEnd int64
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				abs := int64(off) + int64(i)
				wantEnd = min(int64(off)+int64(len(b)), (abs/holeBlock+1)*holeBlock)
				break
			}
		}
		if end != wantEnd {
			t.Fatalf("end %d, want %d", end, wantEnd)
		}
		file.Truncate(int64(off) + int64(len(b)))
		got := make([]byte, len(b))
		file.ReadAt(got, int64(off))
		if !bytes.Equal(got, b) {
			t.Fatal("the content differs from what was written")
		}
	})
}

// TestChangedSparseFileKeepsHoles sends a sparse file, changes a few bytes and sends it
// again: the delta that updates it must leave the holes holes.
func TestChangedSparseFileKeepsHoles(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "sparse.img")
	sparseFile(t, path, 64<<20, 32<<20, []byte("hello"))
	addr := receiverAt(t, dst)
	for run, change := range []string{"", "HELLO"} {
		if change != "" {
			overwrite(t, path, 32<<20, []byte(change))
		}
		if _, err := sendTo(t, addr, src, 0, Options{}); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		want, _ := os.ReadFile(path)
		got, _ := os.ReadFile(filepath.Join(dst, "sparse.img"))
		if !bytes.Equal(got, want) {
			t.Fatalf("run %d: the file differs from the source", run+1)
		}
		var st syscall.Stat_t
		syscall.Stat(filepath.Join(dst, "sparse.img"), &st)
		if st.Blocks*512 > 1<<20 {
			t.Fatalf("run %d: %d KiB allocated for 5 bytes of data: the holes were filled", run+1, st.Blocks/2)
		}
	}
}

// sparseFile makes a file of size bytes holding data at off, holes around it.
func sparseFile(t *testing.T, path string, size, off int64, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// overwrite replaces the bytes of path at off with data.
func overwrite(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}
