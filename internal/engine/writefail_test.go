package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// sendToSilentReceiver sends src with workers data workers over a connection whose writes
// fail after limit bytes, to a receiver that asks for every file and then says nothing.
// onFail runs at the first failed write.
func sendToSilentReceiver(t *testing.T, src string, limit int64, workers int, onFail func()) (*Result, error) {
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
	return Send(context.Background(), fc, &SendConfig{Source: src, Volume: "vol", Workers: workers})
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
// answer came, not that the connection was lost while it read. Meanwhile it reads no more
// files: nothing it read could be sent (once its writer failed, the data budget no longer
// holds its data workers back, and before they stopped they read every file asked for
// in those seconds, at the speed of the disk).
func TestSenderGivesUpOnASilentReceiverAfterAFailedWrite(t *testing.T) {
	src := fileTree(t)
	const (
		tree    = 64<<20 + 1000*48<<10
		limit   = 1 << 20 // written before the writes fail
		workers = 4
		// What the process may read after the failure: however the goroutines are
		// scheduled, the data workers read at most what the data budget (16 MiB) has room
		// for before the writer acts on its failure, then a piece (or a small file) each
		// that they were reading; the receiver reads at most the megabyte written.
		bound = 16<<20 + 2*workers*chunkSize + limit
	)
	start := bytesRead(t)
	var atFailure int64
	failed := false
	_, err := sendToSilentReceiver(t, src, limit, workers, func() { failed, atFailure = true, bytesRead(t) })
	end := bytesRead(t)
	if !failed {
		t.Fatal("no write failed: the test did not put the sender where it must be")
	}
	want := fmt.Sprintf("write to receiver: %v (and no answer from the receiver within %v)", errWriteFails, writeFailGrace)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Send: %v; want %q", err, want)
	}
	// The process reads the files through the sender, and the receiver's socket: the
	// megabyte that went through before the failure, nothing after it.
	before, after := atFailure-start, end-atFailure
	t.Logf("read %d KiB before the failed write, %d KiB after it, of a %d KiB tree", before>>10, after>>10, tree>>10)
	if tree-before < 2*bound {
		t.Fatalf("%d KiB read before the failed write, of %d KiB: too little was left to read to tell", before>>10, tree>>10)
	}
	if after > bound {
		t.Errorf("after its write failed, the sender read %d KiB more (of the %d KiB left): it went on reading files it could not send", after>>10, (tree-before)>>10)
	}
}

// bytesRead is how much this process has read (rchar in /proc/self/io): files, sockets.
func bytesRead(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Errorf("the bytes this process read: %v", err)
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Errorf("/proc/self/io: %q: %v", line, err)
			}
			return n
		}
	}
	t.Errorf("/proc/self/io has no rchar: %q", b)
	return 0
}
