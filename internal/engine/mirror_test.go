package engine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func diffTrees(t *testing.T, a, b string) {
	t.Helper()
	out, _ := exec.Command("diff", "-r", "--no-dereference", a, b).CombinedOutput()
	if len(out) > 0 {
		t.Fatalf("trees differ:\n%s", out)
	}
}

func TestMirrorWithTypeChanges(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a/inside"), "a is a directory on the source")
	write(t, filepath.Join(src, "b"), "b is a file on the source")
	os.Symlink("b", filepath.Join(src, "c"))
	write(t, filepath.Join(src, "keep"), "kept")

	write(t, filepath.Join(dst, "a"), "a is a file on the target")
	write(t, filepath.Join(dst, "b/deep/file"), "b is a tree on the target")
	write(t, filepath.Join(dst, "c/x"), "c is a directory on the target")
	write(t, filepath.Join(dst, "extra"), "only on the target")
	write(t, filepath.Join(dst, "gone/deep/file"), "only on the target")
	os.MkdirAll(filepath.Join(dst, "lost+found"), 0o700)

	res, err := copyTree(t, src, dst, Options{Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 2 {
		t.Errorf("deleted %d, want 2 (extra, gone)", res.Deleted)
	}
	if _, err := os.Stat(filepath.Join(dst, "lost+found")); err != nil {
		t.Error("--delete removed the target's lost+found")
	}
	os.Remove(filepath.Join(dst, "lost+found"))
	diffTrees(t, src, dst)

	// And back: the file becomes a directory again, and without --delete extras stay.
	os.RemoveAll(filepath.Join(src, "a"))
	write(t, filepath.Join(src, "a"), "a is a file again")
	write(t, filepath.Join(dst, "extra"), "only on the target")
	if _, err := copyTree(t, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a")); string(b) != "a is a file again" {
		t.Errorf("a on the target: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dst, "extra")); err != nil {
		t.Error("without --delete an extra file was removed")
	}
}

func TestIncrementalSendsOnlyChanges(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := range 200 {
		write(t, filepath.Join(src, "d", string(rune('a'+i%26)), "f"+string(rune('A'+i/26))), "content")
	}
	if _, err := copyTree(t, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "d/a/fA"), "changed content")
	write(t, filepath.Join(src, "new"), "new file")
	os.Chmod(filepath.Join(src, "d/b/fA"), 0o600) // metadata only
	res, err := copyTree(t, src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transferred != 2 {
		t.Errorf("second run sent %d files, want 2", res.Transferred)
	}
	diffTrees(t, src, dst)
	if fi, _ := os.Stat(filepath.Join(dst, "d/b/fA")); fi.Mode().Perm() != 0o600 {
		t.Errorf("a metadata-only change was not applied: %v", fi.Mode())
	}
	// --checksum finds a change that keeps size and mtime.
	p := filepath.Join(src, "d/c/fA")
	fi, _ := os.Stat(p)
	write(t, p, "CONTENT")
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	res, err = copyTree(t, src, dst, Options{Checksum: true})
	if err != nil || res.Transferred != 1 {
		t.Fatalf("--checksum run: %+v, %v", res, err)
	}
	diffTrees(t, src, dst)
}

func TestFullDiskIsAClearErrorAndDamagesNothing(t *testing.T) {
	requireRoot(t) // to mount a small tmpfs
	dst := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dst).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dst).Run()
	write(t, filepath.Join(dst, "precious"), "old content that must survive")
	src := t.TempDir()
	write(t, filepath.Join(src, "precious"), string(make([]byte, 3<<20))) // does not fit
	_, err := copyTree(t, src, dst, Options{})
	if err == nil {
		t.Fatal("a copy larger than the disk succeeded")
	}
	// The file fails while its data is still on its way: the summary must still arrive
	// (an incomplete run), not look like a lost connection (see hangUp).
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "volume is full") {
		t.Errorf("error is not an incomplete run saying the disk is full: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "precious")); string(b) != "old content that must survive" {
		t.Errorf("the existing file was damaged: %q", b[:min(len(b), 40)])
	}
	if names, _ := filepath.Glob(filepath.Join(dst, ".ferry-*")); len(names) != 0 {
		t.Errorf("temporary files left after a failure that cannot resume: %v", names)
	}
}
