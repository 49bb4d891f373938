package engine

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

// rawSession connects a hand-driven sender to a receiver serving dst and returns the
// frame writer and reader after the handshake, and the receiver's result.
func rawSession(t *testing.T, dst string, opts Options) (*wire.Writer, *wire.Reader, <-chan error) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	rc := &Receiver{Volumes: map[string]string{"vol": dst}}
	errc := make(chan error, 1)
	go func() { errc <- rc.Handle(context.Background(), b) }()
	w, r := wire.NewWriter(a, 0), wire.NewReader(a, 0)
	h := &hello{Proto: ProtocolVersion, Volume: "vol", Options: opts}
	w.WriteFrame(tHello, encode(h.encode))
	w.Flush()
	if typ, _, err := r.ReadFrame(); err != nil || typ != tWelcome {
		t.Fatalf("handshake: %v %v", typ, err)
	}
	go func() { // drain what the receiver says
		for {
			if _, _, err := r.ReadFrame(); err != nil {
				return
			}
		}
	}()
	return w, r, errc
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
	return entry{Entry: scan.Entry{Path: p, Kind: scan.KindDir, Mode: 0o755}}
}
func fileEntry(p string) entry {
	return entry{Entry: scan.Entry{Path: p, Kind: scan.KindFile, Mode: 0o644, Size: 5}}
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
			w, _, errc := rawSession(t, dst, Options{})
			sendEntries(w, 0, tt.entries...)
			if tt.wantErr == "" {
				// A planted symlink is replaced by a real directory; nothing lands outside.
				var e wire.Enc
				e.Uvarint(uint64(len(tt.entries)))
				w.WriteFrame(tEnd, e.B)
				w.Flush()
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(dst, "d", "p")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Fatalf("d/p on the target: %v %v", fi, err)
				}
			} else {
				err := <-errc
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
	w, _, errc := rawSession(t, dst, Options{})
	sendEntries(w, 0, dirEntry(""), fileEntry("f"))
	// Data for an entry that was never asked for, and more data than announced.
	p := &piece{Index: 7, Data: []byte("zzz"), Final: true}
	w.WriteFrame(tData, encode(func(e *wire.Enc) { e.Uvarint(1); encodePiece(e, p) }))
	w.Flush()
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "not asked for") {
		t.Fatalf("receiver error %v", err)
	}
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
