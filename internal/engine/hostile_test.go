package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/delta"
	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/internal/wire"
)

// hostilePeer is a sender driven by hand, frame by frame, against a receiver serving one
// directory: it can say whatever a broken or hostile sender would. It keeps what the
// receiver answers.
type hostilePeer struct {
	t      *testing.T
	w      *wire.Writer
	frames chan peerFrame // the receiver's frames; closed when its connection ends
	errc   chan error     // Receiver.Handle's result
	got    []peerFrame    // frames taken from frames so far
}

type peerFrame struct {
	typ wire.Type
	p   []byte
}

// newHostilePeer connects to a receiver serving dst as volume "vol" and runs the handshake.
func newHostilePeer(t *testing.T, dst string, opts Options) *hostilePeer {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	rc := &Receiver{Volumes: map[string]string{"vol": dst}}
	p := &hostilePeer{t: t, w: wire.NewWriter(a, 0), frames: make(chan peerFrame, 1024), errc: make(chan error, 1)}
	go func() { p.errc <- rc.Handle(context.Background(), b) }()
	r := wire.NewReader(a, 0)
	h := &hello{Proto: ProtocolVersion, Volume: "vol", Options: opts}
	p.send(tHello, encode(h.encode))
	if typ, _, err := r.ReadFrame(); err != nil || typ != tWelcome {
		t.Fatalf("handshake: %v %v", typ, err)
	}
	go func() {
		defer close(p.frames)
		for {
			typ, b, err := r.ReadFrame()
			if err != nil {
				return
			}
			p.frames <- peerFrame{typ, bytes.Clone(b)}
		}
	}()
	return p
}

// send writes one frame. Errors are ignored: a receiver that ended the session stops
// reading, and the test looks at what it said and did instead.
func (p *hostilePeer) send(typ wire.Type, payload []byte) {
	p.w.WriteFrame(typ, payload)
	p.w.Flush()
}

func (p *hostilePeer) entries(first uint64, xs ...entry) { sendEntries(p.w, first, xs...) }

func (p *hostilePeer) data(ps ...piece) {
	p.send(tData, encode(func(e *wire.Enc) {
		e.Uvarint(uint64(len(ps)))
		for i := range ps {
			encodePiece(e, &ps[i])
		}
	}))
}

func (p *hostilePeer) delta(index uint64, ops ...delta.Op) {
	p.send(tDelta, encode(func(e *wire.Enc) {
		e.Uvarint(index)
		e.Uvarint(uint64(len(ops)))
		for _, op := range ops {
			encodeOp(e, op)
		}
	}))
}

// next returns the receiver's next frame; ok is false once its connection has ended.
func (p *hostilePeer) next() (f peerFrame, ok bool) {
	p.t.Helper()
	select {
	case f, ok = <-p.frames:
		if ok {
			p.got = append(p.got, f)
		}
		return f, ok
	case <-time.After(10 * time.Second):
		p.t.Fatal("the receiver said nothing for 10 s")
	}
	return f, false
}

// awaitNeed reads the receiver's frames until it asks for entry index, and returns the request.
func (p *hostilePeer) awaitNeed(index uint64) need {
	p.t.Helper()
	for {
		f, ok := p.next()
		if !ok {
			p.t.Fatalf("the receiver ended without asking for entry %d: %v; it said %s", index, <-p.errc, p.said())
		}
		if f.typ != tNeed {
			continue
		}
		var found *need
		d := wire.NewDec(f.p)
		decodeList(d, maxBatch, func(d *wire.Dec) {
			var n need
			decodeNeed(d, &n)
			if n.Index == index {
				found = &n
			}
		})
		if err := d.Done(); err != nil {
			p.t.Fatalf("need frame: %v", err)
		}
		if found != nil {
			return *found
		}
	}
}

// end sends End after count entries and waits for the receiver to finish. It returns the
// receiver's error, the per-file errors it reported and its summary.
func (p *hostilePeer) end(count uint64) (error, []msgError, summary) {
	p.t.Helper()
	p.send(tEnd, encode(func(e *wire.Enc) { e.Uvarint(count) }))
	var err error
	select {
	case err = <-p.errc:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("the receiver has not finished 10 s after the end of the entries; it said %s", p.said())
	}
	for _, ok := p.next(); ok; _, ok = p.next() {
	}
	var errs []msgError
	var sum summary
	for _, f := range p.got {
		d := wire.NewDec(f.p)
		switch f.typ {
		case tFileError:
			var m msgError
			m.decode(d)
			errs = append(errs, m)
		case tSummary:
			sum.decode(d)
		}
	}
	return err, errs, sum
}

// said lists the receiver's frames so far, by type, with the text of its errors.
func (p *hostilePeer) said() string {
	names := map[wire.Type]string{tWelcome: "welcome", tNeed: "need", tAck: "ack", tFileDone: "done", tSummary: "summary"}
	var b strings.Builder
	for _, f := range p.got {
		switch f.typ {
		case tFileError, tError:
			var m msgError
			m.decode(wire.NewDec(f.p))
			fmt.Fprintf(&b, " error(%d: %s)", m.Index, m.Message)
		default:
			fmt.Fprintf(&b, " %s", cmp.Or(names[f.typ], fmt.Sprint(f.typ)))
		}
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

func sendEntries(w *wire.Writer, first uint64, xs ...entry) {
	var e wire.Enc
	e.Uvarint(first)
	e.Uvarint(uint64(len(xs)))
	for i := range xs {
		encodeEntry(&e, &xs[i])
	}
	w.WriteFrame(tEntries, e.B)
	w.Flush()
}

func dirEntry(p string) entry {
	return entry{Entry: scan.Entry{Path: p, Kind: scan.KindDir, Mode: 0o755, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}}
}
func fileEntry(p string) entry {
	return entry{Entry: scan.Entry{Path: p, Kind: scan.KindFile, Mode: 0o644, Size: 5, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}}
}

func TestHostileSender(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		setup   func(t *testing.T, dst, outside string)
		wantErr string
	}{
		{"dot-dot", []entry{dirEntry(""), fileEntry("../escape")}, nil, `".." component`},
		{"absolute", []entry{dirEntry(""), fileEntry("/etc/escape")}, nil, "absolute path"},
		{"empty component", []entry{dirEntry(""), fileEntry("a//b")}, nil, "component"},
		{"child of a symlink", []entry{dirEntry(""), {Entry: scan.Entry{Path: "l", Kind: scan.KindSymlink, Link: "/"}}, fileEntry("l/escape")}, nil, "outside its directory"},
		{"no root first", []entry{fileEntry("x")}, nil, "outside its directory"},
		{"hard link out", []entry{dirEntry(""), {Entry: scan.Entry{Path: "h", Kind: scan.KindFile, HardLink: "../../etc/passwd"}}}, nil, "bad hard link"},
		{"planted symlink dir", []entry{dirEntry(""), dirEntry("d"), {Entry: scan.Entry{Path: "d/p", Kind: scan.KindFIFO, Mode: 0o644}}}, func(t *testing.T, dst, outside string) {
			os.Symlink(outside, filepath.Join(dst, "d"))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, outside := t.TempDir(), t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dst, outside)
			}
			p := newHostilePeer(t, dst, Options{})
			p.entries(0, tt.entries...)
			if tt.wantErr == "" {
				// A planted symlink is replaced by a real directory; nothing lands outside.
				if err, _, _ := p.end(uint64(len(tt.entries))); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(dst, "d", "p")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Fatalf("d/p on the target: %v %v", fi, err)
				}
			} else {
				err := <-p.errc
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("receiver error %v, want %q", err, tt.wantErr)
				}
			}
			if names, _ := os.ReadDir(outside); len(names) != 0 {
				t.Fatalf("the receiver wrote outside its volume: %v", names)
			}
		})
	}
}

func TestHostileData(t *testing.T) {
	dst := t.TempDir()
	p := newHostilePeer(t, dst, Options{})
	p.entries(0, dirEntry(""), fileEntry("f"))
	// Data for an entry that was never asked for, and more data than announced.
	p.data(piece{Index: 7, Data: []byte("zzz"), Final: true})
	if err := <-p.errc; err == nil || !strings.Contains(err.Error(), "not asked for") {
		t.Fatalf("receiver error %v", err)
	}
}

// fileState is what a test needs to tell whether a file was touched: its identity, link
// count, size, mode, time and content.
type fileState struct {
	ino, nlink uint64
	size       int64
	mode       uint32
	mtime      int64
	content    string
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{ino: st.Ino, nlink: uint64(st.Nlink), size: st.Size, mode: st.Mode, mtime: st.Mtim.Nano(), content: string(b)}
}

// A hard link's first path is resolved on the target without following any symlink: a
// sender that names a leader through a symlink planted in the target (or one it made
// itself) gets a per-file error, and nothing outside the volume is linked or changed.
func TestHostileHardLinkThroughSymlink(t *testing.T) {
	tests := []struct {
		name     string
		hardLink string
		plant    func(t *testing.T, dst, outside string) // symlinks in the target
		inside   string                                  // a file of the target behind the symlink
	}{
		{"leader directory is an absolute symlink out", "evil/secret", func(t *testing.T, dst, outside string) {
			os.Symlink(outside, filepath.Join(dst, "evil"))
		}, ""},
		{"leader directory is a relative symlink out", "evil/secret", func(t *testing.T, dst, outside string) {
			rel, err := filepath.Rel(dst, outside)
			if err != nil {
				t.Fatal(err)
			}
			os.Symlink(rel, filepath.Join(dst, "evil"))
		}, ""},
		{"symlink out deeper in the leader's path", "sub/evil/secret", func(t *testing.T, dst, outside string) {
			os.Mkdir(filepath.Join(dst, "sub"), 0o755)
			os.Symlink(outside, filepath.Join(dst, "sub", "evil"))
		}, ""},
		{"leader is a symlink out", "evil", func(t *testing.T, dst, outside string) {
			os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dst, "evil"))
		}, ""},
		// Never followed, even where they lead to the volume itself.
		{"leader directory is a symlink inside the volume", "evil/secret", func(t *testing.T, dst, outside string) {
			write(t, filepath.Join(dst, "real", "secret"), "inside")
			os.Symlink("real", filepath.Join(dst, "evil"))
		}, "real/secret"},
		{"symlink inside the volume in the middle of the leader's path", "evil/deeper/secret", func(t *testing.T, dst, outside string) {
			write(t, filepath.Join(dst, "real", "deeper", "secret"), "inside")
			os.Symlink("real", filepath.Join(dst, "evil"))
		}, "real/deeper/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, outside := t.TempDir(), t.TempDir()
			write(t, filepath.Join(outside, "secret"), "outside the volume")
			before := stateOf(t, filepath.Join(outside, "secret"))
			tt.plant(t, dst, outside)
			var inside fileState
			if tt.inside != "" {
				inside = stateOf(t, filepath.Join(dst, tt.inside))
			}

			p := newHostilePeer(t, dst, Options{})
			link := fileEntry("a")
			link.HardLink, link.Nlink = tt.hardLink, 2
			p.entries(0, dirEntry(""), link)
			err, errs, sum := p.end(2)
			if err != nil {
				t.Fatalf("a bad hard link ended the whole run: %v", err)
			}
			if len(errs) != 1 || errs[0].Index != 1 || !strings.Contains(errs[0].Message, tt.hardLink) || sum.Errors != 1 {
				t.Errorf("per-file errors %+v (summary: %d errors), want one for entry 1 naming %q", errs, sum.Errors, tt.hardLink)
			}
			if fi, err := os.Lstat(filepath.Join(dst, "a")); err == nil {
				t.Errorf("the link was made: a is %v", fi.Mode())
			}
			if after := stateOf(t, filepath.Join(outside, "secret")); after != before {
				t.Errorf("the file outside the volume changed: %+v, was %+v", after, before)
			}
			if tt.inside != "" {
				if after := stateOf(t, filepath.Join(dst, tt.inside)); after != inside {
					t.Errorf("the file behind the symlink changed: %+v, was %+v", after, inside)
				}
			}
			if names := names(t, outside); len(names) != 1 {
				t.Errorf("outside the volume: %v", names)
			}
		})
	}
}

// Directories of the target replaced by symlinks to elsewhere before the run (planted) are
// replaced by real directories: a real sender's files, links, special files and
// subdirectories land inside the volume, --delete removes nothing behind the symlink, and a
// subdirectory of the volume named in the destination (HOST:PORT/VOLUME/SUBDIR) is refused
// when it is a symlink.
func TestPlantedDirectorySymlinks(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "d", "file"), "file")
	write(t, filepath.Join(src, "d", "sub", "deep"), "deep")
	if err := os.Link(filepath.Join(src, "d", "file"), filepath.Join(src, "d", "sub", "hard")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("file", filepath.Join(src, "d", "link"))
	if err := unix.Mkfifo(filepath.Join(src, "d", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "e", "f"), "e")

	// plant makes the target's d (and e/f's directory, relatively) symlinks to outside.
	plant := func(t *testing.T, dst, outside string) {
		if err := os.Symlink(outside, filepath.Join(dst, "d")); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dst, outside)
		if err := os.Symlink(rel, filepath.Join(dst, "e")); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range []Options{{}, {Delete: true}} {
		t.Run("delete="+map[bool]string{false: "no", true: "yes"}[opts.Delete], func(t *testing.T) {
			dst, outside := t.TempDir(), t.TempDir()
			write(t, filepath.Join(outside, "marker"), "outside the volume")
			write(t, filepath.Join(outside, "file"), "outside the volume")
			marker, file := stateOf(t, filepath.Join(outside, "marker")), stateOf(t, filepath.Join(outside, "file"))
			plant(t, dst, outside)
			if _, err := copyTree(t, src, dst, opts); err != nil {
				t.Fatal(err)
			}
			compareTrees(t, src, dst, treediff.Options{})
			if fi, err := os.Lstat(filepath.Join(dst, "d")); err != nil || !fi.IsDir() {
				t.Errorf("d on the target: %v %v", fi, err)
			}
			if got := names(t, outside); len(got) != 2 {
				t.Errorf("outside the volume: %v, want marker and file", got)
			}
			if stateOf(t, filepath.Join(outside, "marker")) != marker || stateOf(t, filepath.Join(outside, "file")) != file {
				t.Error("a file outside the volume changed")
			}
		})
	}

	t.Run("subdirectory of the destination", func(t *testing.T) {
		dst, outside := t.TempDir(), t.TempDir()
		write(t, filepath.Join(outside, "marker"), "outside the volume")
		plant(t, dst, outside)
		for _, subdir := range []string{"d", "d/x", "e"} {
			addr := receiverAt(t, dst)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Send(context.Background(), c, &SendConfig{Source: src, Volume: "vol", Subdir: subdir})
			c.Close()
			if err == nil || !strings.Contains(err.Error(), "subdirectory") {
				t.Errorf("send into %s, a symlink on the target: %v", subdir, err)
			}
		}
		if got := names(t, outside); len(got) != 1 {
			t.Errorf("outside the volume: %v, want only the marker", got)
		}
	})
}

func FuzzDecodeFromSender(f *testing.F) {
	x := fileEntry("a/b")
	var e wire.Enc
	e.Uvarint(0)
	e.Uvarint(1)
	encodeEntry(&e, &x)
	f.Add(uint8(tEntries), e.B)
	f.Add(uint8(tData), encode(func(e *wire.Enc) {
		e.Uvarint(1)
		encodePiece(e, &piece{Index: 1, Data: []byte("x"), Final: true, Digest: make([]byte, 32)})
	}))
	f.Add(uint8(tDelta), []byte{1, 2, 1, 0, 1, 2, 1, 'x'})
	f.Fuzz(func(t *testing.T, typ uint8, p []byte) {
		decodeFromSender(wire.Type(typ), p) // must not panic or allocate without bound
	})
}
