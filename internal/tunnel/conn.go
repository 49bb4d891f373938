package tunnel

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
)

// rawBufSize is the size of the read and write buffers under TLS: large enough for 16 full
// records, so bulk transfers take one system call where TLS alone would take sixteen.
const rawBufSize = 256 << 10

// rawConn is the connection under TLS. Reads go through a buffer. Writes go straight
// through, except while a Conn.Write is in progress: then the records it produces are
// gathered and sent together when it ends.
type rawConn struct {
	net.Conn
	r *bufio.Reader

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

func (c *rawConn) Read(b []byte) (int, error) { return c.r.Read(b) }

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
