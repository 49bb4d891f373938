package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pacedConn lets writes through at about perSecond bytes a second, and calls before with
// the bytes written so far ahead of each write.
type pacedConn struct {
	net.Conn
	perSecond int64
	before    func(written int64)
	mu        sync.Mutex
	written   int64
}

func (c *pacedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.before(c.written)
	time.Sleep(time.Duration(int64(len(b)) * int64(time.Second) / c.perSecond))
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	return n, err
}

// TestProgressCountsDataAsItIsWritten sends one large file over a slow connection: the
// bytes shown rise while the file goes out, never ahead of what was written to the
// connection, and end at the file's size.
func TestProgressCountsDataAsItIsWritten(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	const size = 12 << 20 // less than the sender's data budget: it can queue all of it at once
	randomFile(t, filepath.Join(src, "big"), size, 4)
	addr := receiverAt(t, dst)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	prog := &Progress{}
	var (
		samples []Snapshot
		last    Snapshot
	)
	const writerBuffer = 256 << 10 // a stream's frame writer may hold this much
	conn := &pacedConn{Conn: c, perSecond: 96 << 20, before: func(written int64) {
		s := prog.Snapshot()
		if s.BytesSent > written+writerBuffer {
			t.Errorf("progress counts %d bytes sent when %d were written to the connection", s.BytesSent, written)
		}
		if s.BytesTransferred > size || s.BytesSent > size {
			t.Errorf("progress counts %d bytes transferred, %d sent, of a %d-byte file", s.BytesTransferred, s.BytesSent, size)
		}
		if s.BytesTransferred < last.BytesTransferred || s.BytesSent < last.BytesSent {
			t.Errorf("progress went back from %+v to %+v", last, s)
		}
		last = s
		samples = append(samples, s)
	}}
	defer conn.Close()
	res, err := Send(context.Background(), conn, &SendConfig{Source: src, Volume: "vol", Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	rising := 0
	for _, s := range samples {
		if s.FilesDone == 0 && s.BytesTransferred > 0 && s.BytesTransferred < size {
			rising++
		}
	}
	if rising < 2 {
		t.Errorf("the bytes transferred rose before the file was done in %d of %d samples, want several", rising, len(samples))
	}
	end := prog.Snapshot()
	want := Snapshot{FilesSeen: 1, BytesSeen: size, WalkDone: true, FilesNeeded: 1, BytesNeeded: size,
		FilesDone: 1, BytesDone: size, BytesSent: size, BytesTransferred: size}
	if end != want {
		t.Errorf("final progress %+v, want %+v", end, want)
	}
	if res.Bytes != size {
		t.Errorf("result %+v", res)
	}
}

// TestProgressTransferredReachesNeeded checks that the bytes transferred end at the bytes
// needed whatever form the data took, while the bytes sent count only what travelled.
func TestProgressTransferredReachesNeeded(t *testing.T) {
	const size = 6 << 20
	for _, tc := range []struct {
		name string
		// prepare fills src (and dst), and says how many bytes the final run must send
		// at most.
		prepare func(t *testing.T, src, dst, addr string) (maxSent int64)
	}{
		{name: "whole", prepare: func(t *testing.T, src, dst, addr string) int64 {
			randomFile(t, filepath.Join(src, "f"), size, 5)
			return size
		}},
		{name: "small files", prepare: func(t *testing.T, src, dst, addr string) int64 {
			for i := range 200 {
				randomFile(t, filepath.Join(src, fmt.Sprintf("f%03d", i)), size/200, uint64(i))
			}
			return size / 200 * 200
		}},
		{name: "sparse", prepare: func(t *testing.T, src, dst, addr string) int64 {
			f, err := os.Create(filepath.Join(src, "f"))
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 1<<20)
			rand.NewChaCha8([32]byte{6}).Read(data)
			f.WriteAt(data, 2<<20) // holes before and after
			f.Truncate(size)
			f.Close()
			return size // at most: a file system without holes stores it all
		}},
		{name: "delta", prepare: func(t *testing.T, src, dst, addr string) int64 {
			data := randomFile(t, filepath.Join(src, "f"), size, 7)
			if _, err := sendTo(t, addr, src, 0, Options{}); err != nil {
				t.Fatal(err)
			}
			rand.NewChaCha8([32]byte{8}).Read(data[3<<20 : 3<<20+4096])
			os.WriteFile(filepath.Join(src, "f"), data, 0o644)
			return 1 << 20 // the changed blocks, not the file
		}},
		{name: "resume", prepare: func(t *testing.T, src, dst, addr string) int64 {
			randomFile(t, filepath.Join(src, "f"), size, 9)
			if _, err := sendTo(t, addr, src, 4<<20, Options{}); err == nil {
				t.Fatal("the cut run succeeded")
			}
			// What the receiver kept of the cut run is counted as transferred, not sent;
			// how much it kept depends on what it had written when the cut came.
			return size
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			addr := receiverAt(t, dst)
			maxSent := tc.prepare(t, src, dst, addr)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			prog := &Progress{}
			if _, err := Send(context.Background(), c, &SendConfig{Source: src, Volume: "vol", Progress: prog}); err != nil {
				t.Fatal(err)
			}
			s := prog.Snapshot()
			if s.BytesNeeded == 0 || s.BytesTransferred != s.BytesNeeded || s.BytesDone != s.BytesNeeded {
				t.Errorf("needed %d, transferred %d, verified %d: want all equal and not 0", s.BytesNeeded, s.BytesTransferred, s.BytesDone)
			}
			if s.BytesSent > maxSent || s.BytesSent > s.BytesTransferred {
				t.Errorf("sent %d bytes, want at most %d and at most the %d transferred", s.BytesSent, maxSent, s.BytesTransferred)
			}
			t.Logf("%+v", s)
		})
	}
}
