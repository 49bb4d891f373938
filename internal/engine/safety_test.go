package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/delta"
)

// The receiver's checks of what a sender says about a file's content: its digest, its size,
// and where each piece of data goes. A sender that lies gets a per-file error (the run goes
// on), and the file never takes its final name: a new file does not appear, a file being
// replaced keeps its old content, and no temporary file is left behind.

// lie is one file a hostile sender lies about.
type lie struct {
	name    string
	size    int64                        // the size announced in the entry
	old     []byte                       // the target's current copy (nil: none)
	partial []byte                       // the partial copy a cut run left (nil: none)
	how     uint8                        // the request the receiver must make
	send    func(p *hostilePeer, n need) // what the sender sends for it, all of it
	wantErr string
}

// digestOf is the BLAKE3 digest a sender announces for content.
func digestOf(content string) []byte {
	sum := blake3.Sum256([]byte(content))
	return sum[:]
}

// pieces returns a send func that sends ps as data of the requested file, in order.
func pieces(ps ...piece) func(p *hostilePeer, n need) {
	return func(p *hostilePeer, n need) {
		for _, pc := range ps {
			pc.Index = n.Index
			p.data(pc)
		}
	}
}

// oldCopy is a target file large enough to be sent as a delta.
var oldCopy = func() []byte {
	b := make([]byte, deltaMin)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}()

// newFirstBlock is a delta against the current copy, whose signature the receiver sent:
// the first block is new (all 'x'), the others are copied.
func newFirstBlock(t *testing.T, n need) []delta.Op {
	t.Helper()
	var sig delta.Signature
	if err := sig.UnmarshalBinary(n.Signature); err != nil {
		t.Fatalf("the receiver's signature: %v", err)
	}
	return []delta.Op{{Literal: bytes.Repeat([]byte("x"), sig.BlockSize)}, {Block: 1, Count: len(sig.Blocks) - 1}}
}

// checkLie tells one lie about a file f in the directory dir: "" for the root, a directory
// the run did not create, where f is written under a temporary name; otherwise a new
// directory, where f is written as an anonymous temporary file when the kernel allows.
func checkLie(t *testing.T, dir string, tt lie) {
	t.Helper()
	dst := t.TempDir()
	path := joinPath(dir, "f")
	if tt.old != nil {
		if err := os.WriteFile(filepath.Join(dst, path), tt.old, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if tt.partial != nil {
		if err := os.WriteFile(filepath.Join(dst, dir, tempName("f")), tt.partial, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := newHostilePeer(t, dst, Options{})
	x := fileEntry(path)
	x.Size, x.Mtime = tt.size, 1e18
	xs := []entry{dirEntry("")}
	if dir != "" {
		xs = append(xs, dirEntry(dir))
	}
	xs = append(xs, x)
	idx := uint64(len(xs) - 1)
	p.entries(0, xs...)
	n := p.awaitNeed(idx)
	if n.How != tt.how {
		t.Fatalf("the receiver asked for %s as %d, want %d", path, n.How, tt.how)
	}
	tt.send(p, n)
	err, errs, sum := p.end(uint64(len(xs)))
	if err != nil {
		t.Fatalf("one lying file ended the whole run: %v", err)
	}
	if len(errs) != 1 || errs[0].Index != idx || !strings.Contains(errs[0].Message, tt.wantErr) {
		t.Errorf("per-file errors %+v, want one for entry %d saying %q", errs, idx, tt.wantErr)
	}
	if sum.Errors != 1 || sum.Verified != 0 {
		t.Errorf("summary: %d errors, %d verified; want 1 and 0", sum.Errors, sum.Verified)
	}
	got, err := os.ReadFile(filepath.Join(dst, path))
	switch {
	case tt.old == nil && !errors.Is(err, os.ErrNotExist):
		t.Errorf("%s took its final name (%d bytes, %v)", path, len(got), err)
	case tt.old != nil && !bytes.Equal(got, tt.old):
		t.Errorf("%s changed: %d bytes, %v", path, len(got), err)
	}
	for _, name := range names(t, filepath.Join(dst, dir)) {
		if isTempName(name) {
			t.Errorf("a temporary file is left: %s", name)
		}
	}
}

func runLies(t *testing.T, lies []lie) {
	for _, tt := range lies {
		t.Run(tt.name, func(t *testing.T) {
			if tt.old != nil || tt.partial != nil {
				checkLie(t, "", tt)
				return
			}
			t.Run("existing directory", func(t *testing.T) { checkLie(t, "", tt) })
			t.Run("new directory", func(t *testing.T) { checkLie(t, "new", tt) })
		})
	}
}

// A file whose content does not match the digest the sender announced fails verification.
func TestReceiverRejectsWrongDigest(t *testing.T) {
	wrong := digestOf("hellp")
	lies := []lie{
		{name: "new file", size: 5, how: needWhole,
			send: pieces(piece{Data: []byte("hello"), Final: true, Digest: wrong})},
		{name: "no digest", size: 5, how: needWhole,
			send: pieces(piece{Data: []byte("hello"), Final: true})},
		{name: "in several pieces", size: 5, how: needWhole,
			send: pieces(piece{Data: []byte("he")}, piece{Offset: 2, Data: []byte("llo")}, piece{Offset: 5, Final: true, Digest: wrong})},
		{name: "replacing a file", size: 5, old: []byte("old!!"), how: needWhole,
			send: pieces(piece{Data: []byte("hello"), Final: true, Digest: wrong})},
		{name: "resumed partial copy", size: 5, partial: []byte("hel"), how: needResume,
			send: pieces(piece{Offset: 3, Data: []byte("lo"), Final: true, Digest: wrong})},
		{name: "delta", size: deltaMin, old: oldCopy, how: needDelta,
			send: func(p *hostilePeer, n need) {
				p.delta(n.Index, newFirstBlock(p.t, n)...)
				p.data(piece{Index: n.Index, Offset: deltaMin, Final: true, Digest: digestOf("not the new content")})
			}},
	}
	for i := range lies {
		lies[i].wantErr = "verification failed"
	}
	runLies(t, lies)
}

// A sender's data must stay within the size it announced and arrive in order; a file whose
// final piece claims completion with less data than announced is the data followed by
// zeros (a file ending in a hole), and fails verification when the digest is of less.
// Each lie is self-consistent otherwise: the digest is of what was sent.
func TestReceiverRejectsSizeLies(t *testing.T) {
	runLies(t, []lie{
		{name: "data past the announced size", size: 5, how: needWhole, wantErr: "past the announced size 5",
			send: pieces(piece{Data: []byte("toolong!"), Final: true, Digest: digestOf("toolong!")})},
		{name: "data past the announced size, then the end", size: 5, how: needWhole, wantErr: "past the announced size 5",
			send: pieces(piece{Data: []byte("toolong!")}, piece{Offset: 8, Final: true, Digest: digestOf("toolong!")})},
		{name: "final piece past the announced size", size: 5, how: needWhole, wantErr: "past the announced size 5",
			send: pieces(piece{Data: []byte("hello")}, piece{Offset: 6, Final: true, Digest: digestOf("hello\x00")})},
		{name: "data before the current position", size: 5, how: needWhole, wantErr: "data at 2 after 5",
			send: pieces(piece{Data: []byte("hello")}, piece{Offset: 2, Data: []byte("xyz"), Final: true, Digest: digestOf("helloxyz")})},
		{name: "data inside the resumed prefix", size: 5, partial: []byte("hel"), how: needResume, wantErr: "data at 1 after 3",
			send: pieces(piece{Offset: 1, Data: []byte("ello"), Final: true, Digest: digestOf("helello")})},
		{name: "final piece short of the announced size", size: 10, how: needWhole, wantErr: "verification failed",
			send: pieces(piece{Data: []byte("hello"), Final: true, Digest: digestOf("hello")})},
		{name: "delta grows the file past the announced size", size: deltaMin, old: oldCopy, how: needDelta,
			wantErr: "grows the file past the announced size",
			// No final piece: the receiver stops at the op that goes too far, not at the end.
			send: func(p *hostilePeer, n need) {
				p.delta(n.Index, append(newFirstBlock(p.t, n), delta.Op{Literal: []byte("more")})...)
			}},
	})
}

// openBeneath and openDirAt, through which the receiver opens the directories a sender
// names, refuse every symlink and every way out of the directory they start from.
func TestOpenRefusesSymlinksAndEscapes(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "sub", "deeper")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{
		"in":       "sub",        // inside the root
		"abs":      outside,      // out, absolute
		"rel":      "../outside", // out, relative
		"sub/up":   "..",         // back to the root
		"sub/dot":  ".",          // itself
		"sub/loop": "loop",       // a loop
	} {
		if err := os.Symlink(to, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	rootfd := openDir(t, root)
	tests := []struct {
		rel  string
		want string // the directory opened, relative to root; "" when refused
	}{
		{"", "."},
		{"sub", "sub"},
		{"sub/deeper", "sub/deeper"},
		{"in", ""},
		{"abs", ""},
		{"rel", ""},
		{"sub/up", ""},
		{"sub/dot", ""},
		{"sub/loop", ""},
		{"in/deeper", ""},
		{"abs/x", ""},
		{"..", ""},
		{"../outside", ""},
		{"sub/../..", ""},
		{"sub/../../outside", ""},
		{outside, ""},
	}
	same := func(fd int, path string) bool {
		var a, b unix.Stat_t
		return unix.Fstat(fd, &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
	}
	for _, tt := range tests {
		fd, err := openBeneath(rootfd, tt.rel)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("openBeneath(%q) opened it", tt.rel)
		case tt.want != "" && err != nil:
			t.Errorf("openBeneath(%q): %v", tt.rel, err)
		case tt.want != "" && !same(fd, filepath.Join(root, tt.want)):
			t.Errorf("openBeneath(%q) opened something else than %s", tt.rel, tt.want)
		}
		if err == nil {
			unix.Close(fd)
		}
	}
	// openDirAt takes one name, never a symlink.
	for name, ok := range map[string]bool{"sub": true, "in": false, "abs": false, "rel": false} {
		fd, err := openDirAt(rootfd, name)
		if (err == nil) != ok {
			t.Errorf("openDirAt(%q): %v, want it opened: %v", name, err, ok)
		}
		if err == nil {
			unix.Close(fd)
		}
	}
}

// A hard link whose first path fails is not made: linking it would tie it to whatever the
// target had at that path before (here an old copy), which the sender never vouched for.
func TestHardLinkToAFailedFile(t *testing.T) {
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "a"), []byte("old!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newHostilePeer(t, dst, Options{})
	a, b := fileEntry("a"), fileEntry("b")
	a.Size, a.Mtime, a.Nlink = 5, 1e18, 2
	b.Size, b.Mtime, b.Nlink, b.HardLink = 5, 1e18, 2, "a"
	p.entries(0, dirEntry(""), a, b)
	n := p.awaitNeed(1)
	p.data(piece{Index: n.Index, Data: []byte("hello"), Final: true, Digest: digestOf("hellp")})
	err, errs, _ := p.end(3)
	if err != nil {
		t.Fatalf("the run ended: %v", err)
	}
	if len(errs) != 2 || !strings.Contains(errs[1].Message, `first path "a" failed`) {
		t.Errorf("per-file errors %+v, want a's and then b's naming a", errs)
	}
	if _, err := os.Lstat(filepath.Join(dst, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b was linked to the old copy of a: %v", err)
	}
}
