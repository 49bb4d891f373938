package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
)

// ferryBinary builds the ferry command once per benchmark.
func ferryBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "ferry")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/ferry").CombinedOutput()
	if err != nil {
		b.Fatalf("build ferry: %v\n%s", err, out)
	}
	return bin
}

// certs are the certificates of one migration, for a receiver reached as localhost or
// 127.0.0.1.
func certs(b *testing.B) string { return testenv.Certs(b, "localhost", "127.0.0.1") }

// start runs a program until the benchmark ends.
func start(b *testing.B, name string, args ...string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	log, _ := os.Create(filepath.Join(b.TempDir(), filepath.Base(name)+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func waitPort(b *testing.B, addr string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("nothing listens on %s", addr)
}

func freeAddr(b *testing.B) string {
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b, nil, "127.0.0.1"))
}

// sink accepts connections; each one is read to the end and answered with one byte.
func sink(b *testing.B) string {
	return testenv.Serve(b, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte{1})
	})
}

// push sends n bytes into addr, half-closes, and waits for the sink's answer.
func push(addr string, n int64) (time.Duration, error) {
	buf := make([]byte, 256<<10)
	startT := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return 0, fmt.Errorf("no answer from the sink: %w", err)
	}
	return time.Since(startT), nil
}

// connectTime is the time to open a connection through addr and get one byte back.
func connectTime(addr string) (time.Duration, error) {
	startT := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.(*net.TCPConn).CloseWrite()
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil {
		return 0, err
	}
	return time.Since(startT), nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
