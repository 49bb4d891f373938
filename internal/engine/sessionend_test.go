package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/wire"
)

// The end of a session: when a file fails while its data is still on its way (a full
// volume), the receiver ends the session with its summary while the sender is still
// writing. The summary must reach the sender whatever the order in which each side sees
// the other's last bytes, or the sender takes a failed file for a lost connection.

// The receiver reads on after its summary, until the sender closes: a sender still
// writing is never answered with a reset (which drops what the receiver sent last), and
// it reads the summary, then an orderly end. The sender here is driven by hand over TCP;
// its file fails on its first piece (data past the announced size) and it goes on sending
// that file's data after the summary arrived, as a real sender does until it has read it.
func TestReceiverReadsUntilTheSenderCloses(t *testing.T) {
	defer func(d time.Duration) { lingerTime = d }(lingerTime)
	lingerTime = time.Minute // this test, not the bound, must end the receiver's wait

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc := &Receiver{Volumes: map[string]string{"vol": t.TempDir()}}
	handled := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			handled <- err
			return
		}
		handled <- rc.Handle(context.Background(), c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	w, r := wire.NewWriter(c, 0), wire.NewReader(c, 0)
	h := &hello{Proto: ProtocolVersion, Volume: "vol"}
	w.WriteFrame(tHello, encode(h.encode))
	w.Flush()
	if typ, _, err := r.ReadFrame(); err != nil || typ != tWelcome {
		t.Fatalf("handshake: %v %v", typ, err)
	}
	big := fileEntry("big")
	big.Size = 1 << 20
	sendEntries(w, 0, dirEntry(""), big)
	w.WriteFrame(tEnd, encode(func(e *wire.Enc) { e.Uvarint(2) }))
	w.Flush()

	chunk := bytes.Repeat([]byte("x"), 64<<10)
	dataFrame := func(offset int64) []byte {
		return encode(func(e *wire.Enc) {
			e.Uvarint(1)
			encodePiece(e, &piece{Index: 1, Offset: offset, Data: chunk})
		})
	}
	var said []wire.Type
	for len(said) == 0 || said[len(said)-1] != tSummary {
		typ, _, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("read the receiver's frames: %v (so far %v)", err, said)
		}
		said = append(said, typ)
		if typ == tNeed { // the file fails at once: its first piece runs past its size
			w.WriteFrame(tData, dataFrame(big.Size-1))
			w.Flush()
		}
	}
	if !containsType(said, tFileError) {
		t.Fatalf("the receiver said %v, want a FileError before its summary", said)
	}

	// Still sending the failed file's data, as a sender does until it has read the
	// summary. (The pause lets a receiver that closed at once do so first.)
	time.Sleep(50 * time.Millisecond)
	for i := range 64 {
		err := w.WriteFrame(tData, dataFrame(int64(i)*int64(len(chunk))))
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.Fatalf("write %d after the summary: %v: the receiver closed while the sender was still sending", i, err)
		}
	}
	// The receiver has half-closed: its side ends in order, with nothing after the summary.
	if typ, _, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the summary: frame %d, %v; want an orderly end (EOF)", typ, err)
	}
	select {
	case err := <-handled:
		t.Fatalf("the receiver's Handle returned (%v) before the sender closed", err)
	default:
	}
	c.Close()
	select {
	case err := <-handled:
		if err != nil {
			t.Fatalf("receiver: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not end when the sender closed")
	}
}

func containsType(ts []wire.Type, want wire.Type) bool {
	for _, t := range ts {
		if t == want {
			return true
		}
	}
	return false
}

// gatedConn holds the sender's reads, once armed, until a write has failed and the sender
// had time to act on it (or closed the connection): the order in which a sender whose
// reader is slower than its writer sees the receiver's last frames and its reset.
type gatedConn struct {
	net.Conn
	armed              atomic.Bool
	waiting            chan struct{} // closed when a read waits at the gate
	writeFailed        chan struct{}
	closed             chan struct{}
	waitOnce, failOnce sync.Once
	closeOnce          sync.Once
}

func newGatedConn(c net.Conn) *gatedConn {
	return &gatedConn{Conn: c, waiting: make(chan struct{}), writeFailed: make(chan struct{}), closed: make(chan struct{})}
}

func (c *gatedConn) Read(b []byte) (int, error) {
	if c.armed.Load() {
		c.waitOnce.Do(func() { close(c.waiting) })
		select {
		case <-c.closed:
		case <-c.writeFailed:
			select {
			case <-c.closed:
			case <-time.After(300 * time.Millisecond):
			}
		case <-time.After(20 * time.Second):
		}
	}
	return c.Conn.Read(b)
}

func (c *gatedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.failOnce.Do(func() { close(c.writeFailed) })
	}
	return n, err
}

func (c *gatedConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// A sender whose write fails still reads what the receiver said before the connection
// failed: here a receiver (driven by hand) reports that the file failed, sends its summary
// and resets the connection while the sender is still writing that file, and the sender's
// reader gets there only after its writer saw the reset. The run is incomplete, for the
// reason the receiver gave; it is not a lost connection.
func TestSenderReadsTheSummaryAfterAFailedWrite(t *testing.T) {
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "big"), 32<<20, 5)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	gc := newGatedConn(c)
	sent := make(chan error, 1)
	var res *Result
	go func() {
		var err error
		res, err = Send(context.Background(), gc, &SendConfig{Source: src, Volume: "vol"})
		sent <- err
	}()

	rc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rc.SetDeadline(time.Now().Add(30 * time.Second))
	w, r := wire.NewWriter(rc, 0), wire.NewReader(rc, 0)
	frame := func() wire.Type {
		t.Helper()
		typ, _, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("read the sender's frames: %v", err)
		}
		return typ
	}
	if typ := frame(); typ != tHello {
		t.Fatalf("first frame %d, want hello", typ)
	}
	wm := &welcome{Proto: ProtocolVersion}
	w.WriteFrame(tWelcome, encode(wm.encode))
	w.Flush()
	for typ := frame(); typ != tEnd; typ = frame() {
	}
	w.WriteFrame(tNeed, encode(func(e *wire.Enc) {
		e.Uvarint(1)
		encodeNeed(e, &need{Index: 1, How: needWhole})
	}))
	w.Flush()
	for got := 0; got < 1<<20; { // some of the file's data, then no more reading
		typ, p, err := r.ReadFrame()
		if err != nil || typ != tData {
			t.Fatalf("data: frame %d, %v", typ, err)
		}
		got += len(p)
	}
	// Hold the sender's reader at the gate: an Ack draws it out of the read it waits in.
	gc.armed.Store(true)
	w.WriteFrame(tAck, encode(func(e *wire.Enc) { e.Uvarint(0) }))
	w.Flush()
	select {
	case <-gc.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender's reader did not come back for more")
	}
	fe := &msgError{Index: 1, Message: `"big": write: the volume is full`}
	w.WriteFrame(tFileError, encode(fe.encode))
	sum := &summary{Entries: 2, Errors: 1}
	w.WriteFrame(tSummary, encode(sum.encode))
	w.Flush()
	rc.(*net.TCPConn).SetLinger(0) // close with a reset, as a socket closed with unread data does
	rc.Close()

	select {
	case err = <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("Send did not return")
	}
	select {
	case <-gc.writeFailed:
	default:
		t.Fatal("no write failed: the test did not put the sender where it must be")
	}
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "the volume is full") {
		t.Fatalf("Send: %v; want the run incomplete because the volume is full", err)
	}
	if res == nil || len(res.Errors) != 1 || res.Entries != 2 {
		t.Fatalf("result %+v", res)
	}
}

// cutAfterFileDone reads the receiver's frames as they pass, and cuts the connection at
// the first write after the receiver reported a file verified. It slows writes a little,
// so that the receiver has moments without data in which it reports what it verified.
type cutAfterFileDone struct {
	net.Conn
	buf                  []byte // what was read and not yet parsed into frames
	filesDone, bytesDone atomic.Int64
	read, written        atomic.Int64
	cut                  atomic.Bool
}

func (c *cutAfterFileDone) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	c.buf = append(c.buf, b[:n]...)
	for len(c.buf) >= wire.HeaderSize {
		size := int(uint32(c.buf[1])<<24 | uint32(c.buf[2])<<16 | uint32(c.buf[3])<<8 | uint32(c.buf[4]))
		if len(c.buf) < wire.HeaderSize+size {
			break
		}
		if wire.Type(c.buf[0]) == tFileDone {
			d := wire.NewDec(c.buf[wire.HeaderSize : wire.HeaderSize+size])
			decodeList(d, maxBatch, func(d *wire.Dec) {
				d.Uvarint()
				c.filesDone.Add(1)
				c.bytesDone.Add(d.Varint())
			})
		}
		c.buf = c.buf[wire.HeaderSize+size:]
	}
	return n, err
}

func (c *cutAfterFileDone) Write(b []byte) (int, error) {
	if c.filesDone.Load() > 0 {
		c.cut.Store(true)
		c.Conn.Close()
		return 0, errors.New("cut")
	}
	time.Sleep(2 * time.Millisecond)
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// A run cut in the middle reports what it did (the files the receiver verified, the
// bytes that crossed the connection), so that a caller that resumes it can add up the
// whole run.
func TestCutRunReportsWhatItDid(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	randomFile(t, filepath.Join(src, "a"), 100<<10, 6)
	randomFile(t, filepath.Join(src, "b"), 32<<20, 7)
	addr := receiverAt(t, dst)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &cutAfterFileDone{Conn: c}
	defer cc.Close()
	res, err := Send(context.Background(), cc, &SendConfig{Source: src, Volume: "vol"})
	if err == nil || errors.Is(err, ErrIncomplete) || !cc.cut.Load() {
		t.Fatalf("Send: %v, cut %v; want the connection cut", err, cc.cut.Load())
	}
	if res == nil {
		t.Fatal("a cut run returned no result")
	}
	t.Logf("cut run: %+v (%v)", res, err)
	if res.Transferred != cc.filesDone.Load() || res.Verified != res.Transferred || res.Bytes != cc.bytesDone.Load() {
		t.Errorf("the cut run reports %d files (%d verified), %d bytes; the receiver reported %d files, %d bytes verified",
			res.Transferred, res.Verified, res.Bytes, cc.filesDone.Load(), cc.bytesDone.Load())
	}
	if crossed := cc.read.Load() + cc.written.Load(); res.WireBytes < crossed || crossed == 0 {
		t.Errorf("the cut run reports %d bytes on the wire; %d crossed the connection", res.WireBytes, crossed)
	}
	if res.Entries != 3 || res.Streams != 1 || res.Duration <= 0 {
		t.Errorf("entries %d, streams %d, duration %v", res.Entries, res.Streams, res.Duration)
	}
	if _, err := os.Stat(filepath.Join(dst, "a")); err != nil {
		t.Errorf("a, reported verified, is not on the target: %v", err)
	}
}
