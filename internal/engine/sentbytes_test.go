package engine

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Result.SentBytes is the file data that went out: every byte of new files, only the
// changed part of a file sent as a delta, and what a cut run sent before the cut (a caller
// that resumes adds it to the run's total).
func TestResultSentBytes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	const small, large = 10 << 10, 3 << 20
	randomFile(t, filepath.Join(src, "small"), small, 1)
	data := randomFile(t, filepath.Join(src, "large"), large, 2)
	addr := receiverAt(t, dst)

	res, err := sendTo(t, addr, src, 2<<20, Options{}) // after the first 1 MiB piece of "large"
	if err == nil {
		t.Fatal("the cut run succeeded")
	}
	if res.SentBytes <= 0 || res.SentBytes > small+large {
		t.Errorf("cut run: %d bytes of file data sent, want some of the %d", res.SentBytes, small+large)
	}

	os.RemoveAll(dst)
	os.Mkdir(dst, 0o755)
	res, err = sendTo(t, addr, src, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SentBytes != small+large {
		t.Errorf("new files: %d bytes of file data sent, want %d", res.SentBytes, small+large)
	}

	rand.NewChaCha8([32]byte{3}).Read(data[1<<20 : 1<<20+64<<10]) // rewrite 64 KiB inside
	if err := os.WriteFile(filepath.Join(src, "large"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = sendTo(t, addr, src, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SentBytes < 64<<10 || res.SentBytes > large/4 {
		t.Errorf("a 64 KiB change sent as a delta: %d bytes of file data sent, want at least 64 KiB and far less than %d", res.SentBytes, large)
	}
}
