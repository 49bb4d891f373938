package engine

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree runs one sender and one receiver over loopback TCP.
func copyTree(t *testing.T, src, dst string, opts Options) (*Result, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc := &Receiver{Volumes: map[string]string{"vol": dst}}
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		errc <- rc.Handle(context.Background(), c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Send(context.Background(), c, &SendConfig{Source: src, Volume: "vol", Options: opts})
	c.Close()
	if rerr := <-errc; rerr != nil && err == nil {
		t.Logf("receiver: %v", rerr)
	}
	return res, err
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSmoke(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a/b/c.txt"), "hello")
	write(t, filepath.Join(src, "big"), strings.Repeat("x", 3<<20))
	os.Symlink("a/b/c.txt", filepath.Join(src, "link"))
	os.Link(filepath.Join(src, "big"), filepath.Join(src, "a/hard"))
	res, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	out, _ := exec.Command("diff", "-r", "--no-dereference", src, dst).CombinedOutput()
	if len(out) > 0 {
		t.Fatalf("trees differ:\n%s", out)
	}
	res, err = copyTree(t, src, dst, Options{})
	if err != nil || res.Transferred != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
}

func TestCompressedCopy(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "text"), strings.Repeat("compressible line of text\n", 200000))
	res, err := copyTree(t, src, dst, Options{Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.WireBytes*10 > res.Bytes {
		t.Errorf("compressed copy moved %d wire bytes for %d file bytes", res.WireBytes, res.Bytes)
	}
	out, _ := exec.Command("diff", "-r", src, dst).CombinedOutput()
	if len(out) > 0 {
		t.Fatalf("trees differ:\n%s", out)
	}
}
