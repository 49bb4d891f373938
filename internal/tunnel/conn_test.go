package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// chunkedConn is a net.Conn whose reads return the pieces of a stream in the sizes given,
// then 4 KiB at a time; a size of 255 is a read that fails with errFlaky instead.
type chunkedConn struct {
	net.Conn
	data  []byte
	sizes []byte
}

// errFlaky is a read error after which reading may go on, as after a deadline.
var errFlaky = errors.New("flaky read")

func (c *chunkedConn) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 4096
	if len(c.sizes) > 0 {
		size := c.sizes[0]
		c.sizes = c.sizes[1:]
		if size == 255 {
			return 0, errFlaky
		}
		n = int(size)*97 + 1 // 1 to about 25 KiB: pieces smaller and larger than a record
	}
	n = min(n, len(b), len(c.data))
	copy(b, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// records builds a stream of TLS-framed records with the given body lengths; the bodies are
// filled with their record's number so that a read across a boundary shows.
func records(lengths []uint16) (stream []byte, ends []int) {
	for i, l := range lengths {
		stream = append(stream, 23, 3, 3, 0, 0)
		binary.BigEndian.PutUint16(stream[len(stream)-2:], l)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, int(l))...)
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// FuzzRawConnStopsAtRecords checks that the connection under TLS never returns bytes of two
// records in one read, whatever the sizes in which the network delivers them and whatever
// reads fail on the way, and that fullRecordReady is true exactly when the next record is a
// full one and buffered whole.
func FuzzRawConnStopsAtRecords(f *testing.F) {
	f.Add([]byte{0, 40, 255, 3}, []byte{1, 2, 200, 255, 0})
	f.Add([]byte{170, 170, 170}, []byte{255})
	f.Add([]byte{255, 254, 253, 252}, []byte{0, 0, 255, 0, 0, 0, 200, 200, 200})
	f.Fuzz(func(t *testing.T, lens, sizes []byte) {
		if len(lens) > 64 {
			lens = lens[:64] // enough records to cross every boundary case, and fast to run
		}
		var lengths []uint16
		for _, l := range lens {
			lengths = append(lengths, uint16(l)*65) // 0 to 16,575 bytes
		}
		stream, ends := records(lengths)
		rc := newRawConn(&chunkedConn{data: stream, sizes: sizes})
		var got []byte
		next := 0 // index of the record being read
		buf := make([]byte, 20<<10)
		for {
			atBoundary := next < len(ends) && len(got) == boundary(ends, next)
			if atBoundary {
				want := rc.r.Buffered() >= ends[next]-len(got) && int(lengths[next]) >= fullRecordLen
				if rc.fullRecordReady() != want {
					t.Fatalf("record %d (%d bytes): fullRecordReady = %v with %d bytes buffered", next, lengths[next], !want, rc.r.Buffered())
				}
			}
			n, err := rc.Read(buf)
			got = append(got, buf[:n]...)
			if next < len(ends) && len(got) > ends[next] {
				t.Fatalf("a read crossed the end of record %d: at %d, read up to %d", next, ends[next], len(got))
			}
			if next < len(ends) && len(got) == ends[next] {
				next++
			}
			if err == io.EOF {
				break
			}
			if err != nil && err != errFlaky {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("read %d bytes, want the %d of the stream", len(got), len(stream))
		}
	})
}

// boundary is where record i starts.
func boundary(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// TestPairIsInteractive sends many small messages one at a time through a tunnel pair and
// waits for each echo: a copy that held back data until more arrived would stall here.
func TestPairIsInteractive(t *testing.T) {
	dir := testenv.Certs(t, "localhost")
	addr := startPair(t, dir, echoServer(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64)
	for i := range 500 {
		msg := []byte{byte(i), byte(i >> 8), 'x'}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if !bytes.Equal(buf[:len(msg)], msg) {
			t.Fatalf("echo %d: got %x, want %x", i, buf[:len(msg)], msg)
		}
	}
}
