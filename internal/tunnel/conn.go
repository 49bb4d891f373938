package tunnel

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// rawBufSize is the size of the read and write buffers under TLS: large enough for 16 full
// records, so bulk transfers take one system call where TLS alone would take sixteen.
const rawBufSize = 256 << 10

// rawConn is the connection under TLS. Reads go through a buffer and stop at the end of each
// TLS record, so that crypto/tls never holds more than the record it is working on and
// fullRecordReady can tell whether the next record is already here. Writes go straight through,
// except while a Conn.Write is in progress: then the records it produces are gathered and
// sent together when it ends.
type rawConn struct {
	net.Conn
	r    *bufio.Reader
	left int // bytes of the current record not yet read; 0 at a record boundary

	mu      sync.Mutex
	holding bool
	wbuf    []byte
}

func newRawConn(c net.Conn) *rawConn {
	setSocketBuffers(c)
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, rawBufSize)}
}

// setSocketBuffers enlarges the kernel's buffers of a TCP connection so that bulk data
// moves in fewer, larger steps.
func setSocketBuffers(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 20)
		tc.SetWriteBuffer(4 << 20)
	}
}

const (
	// recordHeaderLen is the size of a TLS record header: type, version, length.
	recordHeaderLen = 5
	// maxPlaintext is the most data one TLS record carries.
	maxPlaintext = 16 << 10
	// fullRecordLen is the length field of a TLS 1.3 record that carries maxPlaintext of
	// data: the data, its content type and the AEAD tag. Bulk data comes in such records;
	// handshake messages and alerts never fill one.
	fullRecordLen = maxPlaintext + 1 + 16
)

// Read reads no further than the end of the current record.
func (c *rawConn) Read(b []byte) (int, error) {
	if c.left == 0 {
		hdr, err := c.r.Peek(recordHeaderLen)
		if err == io.EOF && len(hdr) > 0 {
			return c.r.Read(b) // a torn header at the end: let crypto/tls report it
		}
		if err != nil {
			return 0, err // the bytes stay buffered for a later call (after a timeout, say)
		}
		c.left = recordHeaderLen + int(binary.BigEndian.Uint16(hdr[3:]))
	}
	n, err := c.r.Read(b[:min(len(b), c.left)])
	c.left -= n
	return n, err
}

// fullRecordReady reports whether the next record is a full one of bulk data and is
// buffered whole, so that reading it cannot block. Smaller records (the last of a burst, a
// handshake message or an alert, after which crypto/tls would read on) do not count.
func (c *rawConn) fullRecordReady() bool {
	if c.left > 0 {
		return false // crypto/tls stopped inside a record: only when it failed
	}
	hdr, err := c.r.Peek(min(recordHeaderLen, c.r.Buffered()))
	if err != nil || len(hdr) < recordHeaderLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	return n >= fullRecordLen && c.r.Buffered() >= recordHeaderLen+n
}

func (c *rawConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return c.Conn.Write(b)
	}
	if len(c.wbuf)+len(b) > rawBufSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(b) > rawBufSize/2 {
		return c.Conn.Write(b)
	}
	c.wbuf = append(c.wbuf, b...)
	return len(b), nil
}

func (c *rawConn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release sends what was gathered and returns to writing straight through.
func (c *rawConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	return c.flushLocked()
}

func (c *rawConn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	return err
}

// Conn is a TLS connection that sends the records of one Write in a single system call.
type Conn struct {
	*tls.Conn
	raw *rawConn
}

// Write encrypts b and sends all of its records at once.
func (c *Conn) Write(b []byte) (int, error) {
	c.raw.hold()
	n, err := c.Conn.Write(b)
	if ferr := c.raw.release(); err == nil {
		err = ferr
	}
	return n, err
}

func clientConn(raw net.Conn, cfg *tls.Config) *Conn {
	rc := newRawConn(raw)
	return &Conn{Conn: tls.Client(rc, cfg), raw: rc}
}

func serverConn(raw net.Conn, cfg *tls.Config) *Conn {
	rc := newRawConn(raw)
	return &Conn{Conn: tls.Server(rc, cfg), raw: rc}
}
