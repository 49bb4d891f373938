package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
)

func openDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestAnonymousTemporaries checks which new files are written without a name, and that
// such a file reaches its final name with its content and metadata.
func TestAnonymousTemporaries(t *testing.T) {
	if err := tryAnonymous(openDir(t, t.TempDir())); err != nil {
		// Linux before 6.10 links an anonymous file only with CAP_DAC_READ_SEARCH.
		msg := fmt.Sprintf("anonymous temporary files do not work here: %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cases := []struct {
		name  string
		clean bool
		size  int64
		how   uint8
		anon  bool
	}{
		{"small file, clean directory", true, 100, needWhole, true},
		{"largest small file", true, smallFile, needWhole, true},
		{"larger file: kept by name for resume", true, smallFile + 1, needWhole, false},
		{"directory that is not clean", false, 100, needWhole, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := &session{}
			x := &entry{Entry: scan.Entry{Path: "f", Kind: scan.KindFile, Mode: 0o640, Size: c.size, Mtime: 1234567890123456789,
				UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}}
			task := &fileTask{x: x, name: "f", how: c.how, dir: &dirNode{fd: openDir(t, dir), fresh: c.clean, noACL: c.clean}}
			if err := task.ws.create(task, s); err != nil {
				t.Fatal(err)
			}
			if task.ws.anon != c.anon {
				t.Fatalf("anonymous = %v, want %v", task.ws.anon, c.anon)
			}
			if got := names(t, dir); c.anon != (len(got) == 0) {
				t.Fatalf("directory holds %q while the file is written", got)
			}
			w := &worker{s: s}
			data := make([]byte, c.size)
			data[0] = 7
			sum := newHasher()
			sum.Write(data)
			if final, err := w.write(task, &piece{Data: data, Final: true, Digest: sum.Sum(nil)}); err != nil || !final {
				t.Fatalf("write: final %v, %v", final, err)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
				t.Fatalf("directory holds %q, want only f", got)
			}
			fi, err := os.Stat(filepath.Join(dir, "f"))
			if err != nil || fi.Size() != c.size || fi.Mode().Perm() != 0o640 || fi.ModTime().UnixNano() != x.Mtime {
				t.Fatalf("f: %v %v", fi, err)
			}
		})
	}
}

// TestLinkAnonymousReplaces covers a name taken while the anonymous file was written.
func TestLinkAnonymousReplaces(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), "old")
	dfd := openDir(t, dir)
	fd, err := openAnonymous(dfd, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Write(fd, []byte("new"))
	if err := linkAnonymous(fd, dfd, "f"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "new" {
		t.Fatalf("f holds %q", got)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("directory holds %q", got)
	}
}
