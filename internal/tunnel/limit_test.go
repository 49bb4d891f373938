package tunnel

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestLimitWritesPaces(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go io.Copy(io.Discard, b)
	c := LimitWrites(a, NewLimiter(2<<20))
	start := time.Now()
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// 1 MiB at 2 MiB/s, less the initial burst: it cannot be faster than 0.4 s.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("1 MiB at 2 MiB/s took %v", d)
	}
}
