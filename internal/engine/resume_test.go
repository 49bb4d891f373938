package engine

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// cutConn closes the connection once more than limit bytes were written through it.
type cutConn struct {
	net.Conn
	mu      sync.Mutex
	limit   int64
	written int64
}

func (c *cutConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.written+int64(len(b)) > c.limit {
		n, _ := c.Conn.Write(b[:c.limit-c.written])
		c.written += int64(n)
		c.Conn.Close()
		return n, errors.New("cut")
	}
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	return n, err
}

// receiverAt serves dst on loopback for the whole test.
func receiverAt(t testing.TB, dst string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &Receiver{Volumes: map[string]string{"vol": dst}}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); rc.Handle(ctx, c) }()
		}
	}()
	return ln.Addr().String()
}

func sendTo(t testing.TB, addr, src string, limit int64, opts Options) (*Result, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn = c
	if limit > 0 {
		conn = &cutConn{Conn: c, limit: limit}
	}
	defer conn.Close()
	return Send(context.Background(), conn, &SendConfig{Source: src, Volume: "vol", Options: opts})
}

func randomFile(t testing.TB, path string, size int64, seed uint64) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResumeAfterCut(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB")
	}
	src, dst := t.TempDir(), t.TempDir()
	const size = 512 << 20
	want := randomFile(t, filepath.Join(src, "disk.img"), size, 1)
	addr := receiverAt(t, dst)
	if _, err := sendTo(t, addr, src, 200<<20, Options{}); err == nil {
		t.Fatal("the cut run succeeded")
	}
	if _, err := os.Stat(filepath.Join(dst, "disk.img")); err == nil {
		t.Fatal("a partial file sits at its final name")
	}
	res, err := sendTo(t, addr, src, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := 200<<20 + res.WireBytes
	t.Logf("cut at 200 MiB, second run moved %d MiB: %.1f%% extra in total", res.WireBytes>>20, 100*float64(total-size)/size)
	if float64(total) > 1.15*size {
		t.Errorf("resume sent %d bytes in total for a %d-byte file: more than 15%% extra", total, size)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "disk.img"))
	if !bytes.Equal(got, want) {
		t.Fatal("the resumed file differs from the source")
	}
}

func TestDeltaOfRewrittenLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	src, dst := t.TempDir(), t.TempDir()
	const size = 256 << 20
	data := randomFile(t, filepath.Join(src, "db"), size, 2)
	addr := receiverAt(t, dst)
	if _, err := sendTo(t, addr, src, 0, Options{}); err != nil {
		t.Fatal(err)
	}
	rand.NewChaCha8([32]byte{3}).Read(data[100<<20 : 101<<20]) // rewrite 1 MiB inside
	if err := os.WriteFile(filepath.Join(src, "db"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := sendTo(t, addr, src, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1 MiB rewrite in 256 MiB: %d KiB on the wire (%.2f%%)", res.WireBytes>>10, 100*float64(res.WireBytes)/size)
	if res.WireBytes > size/20 {
		t.Errorf("the delta cost %d bytes, over 5%% of %d", res.WireBytes, size)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "db"))
	if !bytes.Equal(got, data) {
		t.Fatal("the patched file differs from the source")
	}
}

// TestResumeRefusedSparse changes the part of a sparse file a cut run had already sent: the
// sender refuses the receiver's partial copy and starts again from the beginning, although
// the file's first data lies after a hole.
func TestResumeRefusedSparse(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "sparse.img")
	data := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{9}).Read(data)
	sparseFile(t, path, 24<<20, 8<<20, data) // a hole of 8 MiB, then data
	addr := receiverAt(t, dst)
	if _, err := sendTo(t, addr, src, 12<<20, Options{}); err == nil {
		t.Fatal("the cut run succeeded")
	}
	data[1] ^= 0xff // inside what the receiver kept
	overwrite(t, path, 8<<20, data[:2])
	res, err := sendTo(t, addr, src, 0, Options{})
	if err != nil {
		t.Fatalf("second run: %v (%v)", err, res.Errors)
	}
	want, _ := os.ReadFile(path)
	got, _ := os.ReadFile(filepath.Join(dst, "sparse.img"))
	if !bytes.Equal(got, want) {
		t.Fatal("the file differs from the source")
	}
}
