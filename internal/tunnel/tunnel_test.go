package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/pki"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// echoServer answers each connection by echoing what it reads, then half-closing.
func echoServer(t *testing.T) string {
	return testenv.Serve(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startPair runs a tunnel server in front of backend and a client in front of the server.
func startPair(tb testing.TB, dir, backend string) (clientAddr string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	sln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &Server{Forward: backend, TLS: ServerConfig(testenv.Bundle(tb, dir, pki.Server)), Log: quietLog(), Grace: time.Second}
	cln, _ := net.Listen("tcp", "127.0.0.1:0")
	cl := &Client{Target: &Target{Addr: sln.Addr().String(), ServerName: "localhost", Bundle: testenv.Bundle(tb, dir, pki.Client)}, Log: quietLog(), Grace: time.Second}
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ctx, sln) }()
	go func() { defer wg.Done(); cl.Serve(ctx, cln) }()
	return cln.Addr().String()
}

func TestPairCarriesDataWithHalfClose(t *testing.T) {
	dir := testenv.Certs(t, "localhost")
	addr := startPair(t, dir, echoServer(t))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ { // concurrent connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			data := make([]byte, 3<<20)
			rand.Read(data)
			go func() {
				c.Write(data)
				c.(*net.TCPConn).CloseWrite() // the echo only answers in full after our EOF
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("echo through the tunnel: %d bytes, err %v", len(got), err)
			}
		}()
	}
	wg.Wait()
}

func TestDialRefusesOtherCA(t *testing.T) {
	serverDir := testenv.Certs(t, "localhost")
	clientDir := testenv.Certs(t, "localhost") // another migration
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, ServerConfig(testenv.Bundle(t, serverDir, pki.Server)))
		tc.Handshake()
		b, _ := io.ReadAll(tc)
		got <- b
	}()
	_, err := Dial(context.Background(), &Target{Addr: ln.Addr().String(), ServerName: "localhost", Bundle: testenv.Bundle(t, clientDir, pki.Client)})
	var ie *InterceptedError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want *InterceptedError", err, err)
	}
	if !strings.Contains(ie.Issuer, "ferry migration CA") || len(ie.Fingerprint) != 64 {
		t.Errorf("intercepted error %+v", ie)
	}
	if b := <-got; len(b) != 0 {
		t.Errorf("the server received %d application bytes", len(b))
	}
}

func TestDialNameMismatch(t *testing.T) {
	dir := testenv.Certs(t, "receiver.example.com")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			tls.Server(c, ServerConfig(testenv.Bundle(t, dir, pki.Server))).Handshake()
			c.Close()
		}
	}()
	_, err := Dial(context.Background(), &Target{Addr: ln.Addr().String(), Bundle: testenv.Bundle(t, dir, pki.Client)})
	if err == nil || !strings.Contains(err.Error(), "--server-name") || !strings.Contains(err.Error(), "receiver.example.com") {
		t.Fatalf("error %v", err)
	}
}

func TestServerRequiresClientCertificate(t *testing.T) {
	dir := testenv.Certs(t, "localhost")
	sln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &Server{Forward: echoServer(t), TLS: ServerConfig(testenv.Bundle(t, dir, pki.Server)), Log: quietLog(), Grace: time.Second}
	go srv.Serve(ctx, sln)

	b := testenv.Bundle(t, dir, pki.Client)
	cfg := ClientConfig(b, "localhost")
	cfg.Certificates = nil // no client certificate
	c, err := tls.Dial("tcp", sln.Addr().String(), cfg)
	if err == nil {
		c.Write([]byte("hello"))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("a client without a certificate got through: %v", err)
	}
}

// TestHealthChecksAreNotWarnings: a TCP connect and close or reset (what a load balancer's
// health check does) is logged at debug level; a client that speaks anything but TLS is a
// warning.
func TestHealthChecksAreNotWarnings(t *testing.T) {
	cfg := ServerConfig(testenv.Bundle(t, testenv.Certs(t, "localhost"), pki.Server))
	tests := []struct {
		name  string
		send  []byte
		reset bool
		want  string
	}{
		{"connect and close", nil, false, "level=DEBUG"},
		{"connect and reset", nil, true, "level=DEBUG"},
		{"plain HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "level=WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			client.Write(tt.send)
			if tt.reset {
				client.(*net.TCPConn).SetLinger(0)
			}
			client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			_, err = AcceptTLS(context.Background(), server, cfg)
			if err == nil {
				t.Fatal("the handshake succeeded")
			}
			LogRefused(log, "peer", err)
			if !strings.Contains(buf.String(), tt.want) {
				t.Errorf("logged %q (for %v), want %s", buf.String(), err, tt.want)
			}
		})
	}
}
