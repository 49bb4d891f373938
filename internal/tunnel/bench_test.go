package tunnel

import (
	"io"
	"net"
	"testing"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// BenchmarkPairThroughput pushes data through an in-process tunnel client and server.
func BenchmarkPairThroughput(b *testing.B) {
	dir := testenv.Certs(b, "localhost")
	sinkLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer sinkLn.Close()
	go func() {
		for {
			c, err := sinkLn.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Write([]byte{1}); c.Close() }()
		}
	}()
	addr := startPair(b, dir, sinkLn.Addr().String())
	buf := make([]byte, 256<<10)
	const size = 256 << 20
	b.SetBytes(size)
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < size; sent += len(buf) {
			c.Write(buf)
		}
		c.(*net.TCPConn).CloseWrite()
		io.ReadFull(c, buf[:1])
		c.Close()
	}
}
