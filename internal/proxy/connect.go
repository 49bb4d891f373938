package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// replyLimit bounds the status line and headers of a CONNECT reply; a proxy that sends more
// is not speaking HTTP.
const replyLimit = 64 << 10

// Connect asks the proxy p, reached over conn, to open a tunnel to target (host:port). On
// success the returned conn carries the tunnel, starting with any bytes the proxy sent right
// after its reply. On failure conn is closed and the error is an *AuthError, *RefusedError
// or *ProtocolError (or the context's error). The context bounds the exchange: when it ends,
// the pending read or write fails and the context's error is returned. (Setting the conn's
// deadline to ctx's deadline instead races: the read can time out before ctx reports it.)
func Connect(ctx context.Context, conn net.Conn, p *Proxy, target string) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := connect(conn, p, target)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("CONNECT %s via %s: %w", target, p, ctx.Err())
		}
		return nil, err
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("CONNECT %s via %s: %w", target, p, ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

func connect(conn net.Conn, p *Proxy, target string) (net.Conn, error) {
	if _, err := conn.Write(Request(p, target)); err != nil {
		return nil, fmt.Errorf("send CONNECT %s to proxy %s: %w", target, p, err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	reply, err := ReadReply(br)
	if err != nil {
		return nil, &ProtocolError{Proxy: p.String(), Target: target, Err: err}
	}
	if reply.Status/100 != 2 {
		return nil, replyError(p, target, reply)
	}
	return newConn(conn, br), nil
}

// Request is the CONNECT request for target, with Basic credentials when p has a user.
func Request(p *Proxy, target string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if p.Username != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(p.Username + ":" + p.Password))
		b.WriteString("Proxy-Authorization: Basic " + cred + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Reply is a parsed CONNECT reply head.
type Reply struct {
	Status int
	Reason string
	// Authenticate holds the Proxy-Authenticate values (one per challenge header).
	Authenticate []string
	// Server is the Server header, which often names the proxy software.
	Server string
}

// ReadReply reads a reply's status line and headers, and nothing after them: a 2xx reply to
// CONNECT has no body, and what follows belongs to the tunnel.
func ReadReply(br *bufio.Reader) (*Reply, error) {
	line, n, err := readLine(br, 0)
	if err != nil {
		return nil, err
	}
	r, err := parseStatus(line)
	if err != nil {
		return nil, err
	}
	for {
		line, n, err = readLine(br, n)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return r, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", clip(line))
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "proxy-authenticate":
			r.Authenticate = append(r.Authenticate, value)
		case "server":
			r.Server = value
		}
	}
}

// readLine returns one line without its CR LF; n counts the bytes read so far.
func readLine(br *bufio.Reader, n int) (string, int, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		n += len(chunk)
		if n > replyLimit {
			return "", n, fmt.Errorf("reply head longer than %d bytes", replyLimit)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) == 0 && n == 0 {
			return "", n, fmt.Errorf("proxy closed the connection without a reply: %w", err)
		}
		return "", n, fmt.Errorf("reply cut short: %w", err)
	}
	return strings.TrimRight(string(line), "\r\n"), n, nil
}

func parseStatus(line string) (*Reply, error) {
	proto, rest, _ := strings.Cut(line, " ")
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return nil, fmt.Errorf("not an HTTP reply: %q", clip(line))
	}
	code, reason, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if len(code) != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return nil, fmt.Errorf("bad status code in %q", clip(line))
	}
	status := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return &Reply{Status: status, Reason: strings.TrimSpace(reason)}, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// conn is a tunnel whose first bytes may already sit in the reader used for the reply.
type conn struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
}

func newConn(c net.Conn, br *bufio.Reader) net.Conn {
	n := br.Buffered()
	if n == 0 {
		return c
	}
	pending, _ := br.Peek(n)
	return &conn{Conn: c, pending: append([]byte(nil), pending...)}
}

func (c *conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(b)
}

// CloseWrite half-closes the tunnel when the underlying connection can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("connection cannot half-close")
}
