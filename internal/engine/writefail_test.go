package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

// failingConn fails every write once limit bytes have gone through, without closing the
// connection: the receiver, waiting for more, says nothing, and so does the sender's
// reader. onFail runs at the first failed write.
type failingConn struct {
	net.Conn
	limit   int64
	onFail  func()
	mu      sync.Mutex
	written int64
	failed  bool
}

var errWriteFails = errors.New("the connection takes no more")

func (c *failingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed || c.written+int64(len(b)) > c.limit {
		if !c.failed && c.onFail != nil {
			c.onFail()
		}
		c.failed = true
		return 0, errWriteFails
	}
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	return n, err
}

// silentReceiver plays a receiver on c: it welcomes the sender, reads its whole tree and
// asks for every file at once, the largest first, then reads whatever comes until the
// sender closes, and never answers again.
func silentReceiver(t *testing.T, c net.Conn) {
	defer c.Close()
	w, r := wire.NewWriter(c, 0), wire.NewReader(c, 0)
	if typ, _, err := r.ReadFrame(); err != nil || typ != tHello {
		t.Errorf("first frame %d, %v; want hello", typ, err)
		return
	}
	wm := &welcome{Proto: ProtocolVersion}
	w.WriteFrame(tWelcome, encode(wm.encode))
	w.Flush()
	type file struct {
		index uint64
		size  int64
	}
	var files []file
	for {
		typ, p, err := r.ReadFrame()
		if err != nil {
			t.Errorf("read the tree: %v", err)
			return
		}
		if typ == tEnd {
			break
		}
		if typ != tEntries {
			continue
		}
		d := wire.NewDec(p)
		first, count := d.Uvarint(), d.Uvarint()
		for i := range count {
			var x entry
			decodeEntry(d, &x)
			if x.Kind == scan.KindFile {
				files = append(files, file{first + i, x.Size})
			}
		}
		if err := d.Done(); err != nil {
			t.Errorf("entries: %v", err)
			return
		}
	}
	slices.SortStableFunc(files, func(a, b file) int { return int(b.size - a.size) })
	w.WriteFrame(tNeed, encode(func(e *wire.Enc) {
		e.Uvarint(uint64(len(files)))
		for _, f := range files {
			encodeNeed(e, &need{Index: f.index, How: needWhole})
		}
	}))
	w.Flush()
	io.Copy(io.Discard, c)
}

// sendToSilentReceiver sends src over a connection whose writes fail after limit bytes, to
// a receiver that asks for every file and then says nothing. onFail runs at the first
// failed write.
func sendToSilentReceiver(t *testing.T, src string, limit int64, onFail func()) (*Result, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		silentReceiver(t, c)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fc := &failingConn{Conn: c, limit: limit, onFail: onFail}
	defer fc.Close()
	return Send(context.Background(), fc, &SendConfig{Source: src, Volume: "vol", Workers: 4})
}

// fileTree writes a large file and many small ones (sent several to a frame) into a new
// directory: 112 MiB in all.
func fileTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "large"), 64<<20, 8)
	for i := range 1000 {
		randomFile(t, filepath.Join(src, fmt.Sprintf("small-%04d", i)), 48<<10, uint64(i))
	}
	return src
}

// A write fails and the receiver says nothing: the sender waits writeFailGrace for the
// receiver's last word, then gives up, and its error says that a write failed and no
// answer came, not that the connection was lost while it read.
func TestSenderGivesUpOnASilentReceiverAfterAFailedWrite(t *testing.T) {
	src := fileTree(t)
	failed := false
	_, err := sendToSilentReceiver(t, src, 1<<20, func() { failed = true })
	if !failed {
		t.Fatal("no write failed: the test did not put the sender where it must be")
	}
	want := fmt.Sprintf("write to receiver: %v (and no answer from the receiver within %v)", errWriteFails, writeFailGrace)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Send: %v; want %q", err, want)
	}
}
