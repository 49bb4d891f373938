package tunnel

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The durations below are floors the limiter guarantees (it cannot be faster), never
// measures of speed: a loaded machine only makes the writes slower.

func TestLimitWritesPaces(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go io.Copy(io.Discard, b)
	c := LimitWrites(a, NewLimiter(2<<20))
	start := time.Now()
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// 1 MiB at 2 MiB/s, less the initial burst (a tenth of a second's worth): 0.4 s at least.
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("1 MiB at 2 MiB/s took %v", d)
	}
}

// One limiter shared by several connections (as send shares one among its streams) limits
// their sum, not each of them.
func TestLimitWritesSharedLimiter(t *testing.T) {
	lim := NewLimiter(2 << 20)
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		a, b := net.Pipe()
		defer a.Close()
		go io.Copy(io.Discard, b)
		c := LimitWrites(a, lim)
		wg.Go(func() {
			if _, err := c.Write(make([]byte, 512<<10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 1 MiB in all at 2 MiB/s, less the burst: 0.4 s at least; each alone would take 0.15 s.
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("2 × 512 KiB through one 2 MiB/s limiter took %v", d)
	}
}

func TestLimitWritesNoLimit(t *testing.T) {
	for _, rate := range []int64{0, -1} {
		if lim := NewLimiter(rate); lim != nil {
			t.Errorf("NewLimiter(%d) = %v, want nil (no limit)", rate, lim)
		}
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := LimitWrites(a, nil); c != a {
		t.Errorf("LimitWrites without a limiter wrapped the connection: %T", c)
	}
}

// A limited TCP connection still half-closes: the peer reads everything, then EOF, and can
// still answer.
func TestLimitWritesCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c) // until the sender's half-close
		c.Write([]byte("ok"))
		got <- string(b)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := LimitWrites(raw, NewLimiter(1<<20))
	c.Write([]byte("ping"))
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c)
	if err != nil || string(answer) != "ok" {
		t.Errorf("answer after the half-close: %q %v", answer, err)
	}
	if s := <-got; s != "ping" {
		t.Errorf("the peer read %q", s)
	}
}
