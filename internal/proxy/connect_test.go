package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		in      string
		status  int
		auth    []string
		rest    string
		wantErr string
	}{
		{in: "HTTP/1.1 200 Connection established\r\n\r\nTLS", status: 200, rest: "TLS"},
		{in: "HTTP/1.0 200 OK\r\nProxy-agent: x\r\n\r\n", status: 200},
		{in: "HTTP/1.1 200\r\n\r\n", status: 200},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, rest: "hello"},
		{in: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nproxy-authenticate: NTLM\r\n\r\n", status: 407, auth: []string{`Basic realm="x"`, "NTLM"}},
		{in: "HTTP/1.1 200 OK\n\n", status: 200},
		{in: "", wantErr: "without a reply"},
		{in: "HTTP/1.1 200 OK\r\n", wantErr: "cut short"},
		{in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: "not an HTTP reply"},
		{in: "HTTP/2 200\r\n\r\n", wantErr: "not an HTTP reply"},
		{in: "HTTP/1.1 20x OK\r\n\r\n", wantErr: "bad status"},
		{in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", wantErr: "malformed header"},
		{in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", replyLimit) + "\r\n\r\n", wantErr: "longer than"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			r, err := ReadReply(br)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || strings.Join(r.Authenticate, "|") != strings.Join(tt.auth, "|") {
				t.Fatalf("got %+v", r)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.rest {
				t.Fatalf("left %q for the tunnel, want %q", rest, tt.rest)
			}
		})
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\n\r\nrest")
	f.Add("HTTP/1.0 407 x\r\nProxy-Authenticate: Basic\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReader(strings.NewReader(in))
		r, err := ReadReply(br)
		if err != nil {
			return
		}
		if r.Status < 100 || r.Status > 599 {
			t.Fatalf("status %d", r.Status)
		}
		// Everything after the blank line is left for the tunnel.
		rest, _ := io.ReadAll(br)
		if !strings.HasSuffix(in, string(rest)) {
			t.Fatalf("tunnel bytes %q are not the tail of the input", rest)
		}
	})
}

// fakeProxy answers one CONNECT with reply and returns the request it read.
func fakeProxy(t *testing.T, reply string) (net.Conn, <-chan string) {
	t.Helper()
	client, server := net.Pipe()
	got := make(chan string, 1)
	go func() {
		br := bufio.NewReader(server)
		var req strings.Builder
		for {
			line, err := br.ReadString('\n')
			req.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		got <- req.String()
		if reply != "" {
			server.Write([]byte(reply))
		}
	}()
	t.Cleanup(func() { server.Close() })
	return client, got
}

func TestConnect(t *testing.T) {
	p, _ := Parse("http://us%40er:p%40ss%20word@proxy:3128")
	c, got := fakeProxy(t, "HTTP/1.0 200 Connection established\r\n\r\nearly bytes")
	conn, err := Connect(context.Background(), c, p, "target:443")
	if err != nil {
		t.Fatal(err)
	}
	req := <-got
	want := "CONNECT target:443 HTTP/1.1\r\nHost: target:443\r\nProxy-Authorization: Basic dXNAZXI6cEBzcyB3b3Jk\r\n\r\n"
	if req != want {
		t.Fatalf("request %q, want %q", req, want)
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if string(buf[:n]) != "early bytes" {
		t.Fatalf("first read %q: bytes after the reply were lost", buf[:n])
	}
}

func TestConnectErrors(t *testing.T) {
	withAuth, _ := Parse("http://u:s3cret@proxy:3128")
	noAuth, _ := Parse("http://proxy:3128")
	tests := []struct {
		name    string
		p       *Proxy
		target  string
		reply   string
		check   func(error) bool
		wantMsg []string
	}{
		{"wrong password", withAuth, "t:443", "HTTP/1.1 407 Denied\r\nProxy-Authenticate: Basic realm=\"squid\"\r\n\r\n",
			func(err error) bool { var e *AuthError; return errors.As(err, &e) && e.SentCredentials },
			[]string{"refused", "Basic", "u:xxxxx@proxy:3128"}},
		{"missing password", noAuth, "t:443", "HTTP/1.1 407 Denied\r\nProxy-Authenticate: Basic realm=\"squid\"\r\n\r\n",
			func(err error) bool { var e *AuthError; return errors.As(err, &e) && !e.SentCredentials },
			[]string{"no credentials", "add user:password@"}},
		{"ntlm only", withAuth, "t:443", "HTTP/1.1 407 Denied\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Negotiate\r\n\r\n",
			func(err error) bool { var e *AuthError; return errors.As(err, &e) && !e.OffersBasic() },
			[]string{"NTLM, Negotiate", "only Basic"}},
		{"port rule", withAuth, "t:6443", "HTTP/1.1 403 Forbidden\r\n\r\n",
			func(err error) bool { var e *RefusedError; return errors.As(err, &e) && e.Status == 403 },
			[]string{"403 Forbidden", "CONNECT t:6443", "only to port 443", "port 6443"}},
		{"bad gateway", withAuth, "t:443", "HTTP/1.1 502 Bad Gateway\r\n\r\n",
			func(err error) bool { var e *RefusedError; return errors.As(err, &e) && e.Status == 502 },
			[]string{"502 Bad Gateway"}},
		{"not http", withAuth, "t:443", "\x16\x03\x01garbage\r\n\r\n",
			func(err error) bool { var e *ProtocolError; return errors.As(err, &e) },
			[]string{"not an HTTP reply"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeProxy(t, tt.reply)
			_, err := Connect(context.Background(), c, tt.p, tt.target)
			if err == nil || !tt.check(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestConnectHonoursContext(t *testing.T) {
	p, _ := Parse("http://proxy:3128")
	c, _ := fakeProxy(t, "") // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Connect(ctx, c, p, "t:443")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Connect ignored the deadline")
	}
}

func TestConnWrapper(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			s, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			// Read the CONNECT request, answer with the reply and one tunnel byte at once.
			br := bufio.NewReader(s)
			for line, _ := br.ReadString('\n'); line != "\r\n" && line != ""; line, _ = br.ReadString('\n') {
			}
			s.Write([]byte("HTTP/1.1 200 OK\r\n\r\nX"))
			accepted <- s
		}()
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		p, _ := Parse("http://" + ln.Addr().String())
		tun, err := Connect(context.Background(), raw, p, "t:443")
		if err != nil {
			return nil, nil, nil, err
		}
		if _, ok := tun.(*conn); !ok {
			t.Fatalf("Connect returned %T, want the buffering wrapper", tun)
		}
		one := make([]byte, 1)
		if _, err := io.ReadFull(tun, one); err != nil || one[0] != 'X' {
			return nil, nil, nil, errors.New("lost the first tunnel byte")
		}
		s := <-accepted
		return tun, s, func() { tun.Close(); s.Close() }, nil
	})
}
