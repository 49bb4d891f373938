package testenv

import (
	"io"
	"net"
	"testing"
)

// Serve accepts TCP connections on 127.0.0.1 until the test ends and runs handle for each
// one on its own goroutine, closing the connection when handle returns. It returns the
// address.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Silent accepts connections and never answers, until the test ends: a proxy that takes the
// connection and never answers CONNECT, or a far end that never answers TLS.
func Silent(t testing.TB) string {
	t.Helper()
	return Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}
