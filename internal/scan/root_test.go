package scan

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRootAndXattrsAt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/f", []byte("x"), 0o644)
	unix.Setxattr(dir+"/f", "user.a", []byte("1"), 0)
	os.Symlink("/etc/passwd", dir+"/l")
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := r.OpenFile("f")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := r.OpenFile("l"); err == nil {
		t.Fatal("OpenFile followed a symlink")
	}
	if _, err := r.OpenFile("../x"); err == nil {
		t.Fatal("OpenFile left the root")
	}
	xs, err := XattrsAt(r.fd, "f", false)
	if err != nil || len(xs) != 1 || xs[0].Name != "user.a" || string(xs[0].Value) != "1" {
		t.Fatalf("XattrsAt: %v %v", xs, err)
	}
}
