package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeveralStreams(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := range 300 {
		write(t, filepath.Join(src, fmt.Sprintf("d%d/f%d", i%7, i)), strings.Repeat("x", i*97))
	}
	randomFile(t, filepath.Join(src, "big1"), 6<<20, 4)
	randomFile(t, filepath.Join(src, "big2"), 5<<20, 5)
	addr := receiverAt(t, dst)
	dial := func(ctx context.Context) (io.ReadWriteCloser, error) { return net.Dial("tcp", addr) }
	for _, opts := range []Options{{}, {Compress: true, Delete: true}} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Send(context.Background(), c, &SendConfig{Source: src, Volume: "vol", Options: opts, Streams: 3, Dial: dial})
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		diffTrees(t, src, dst)
		if res.Streams != 3 {
			t.Errorf("the session used %d connections, want 3", res.Streams)
		}
		t.Logf("%+v: %d files sent", opts, res.Transferred)
		// Change the big file for a delta over several streams on the next round.
		randomFile(t, filepath.Join(src, "big1"), 6<<20, 6)
		os.Remove(filepath.Join(src, "d0/f0"))
	}
}

// TestWalkWaitsForTheReceiver: with few undecided entries allowed, the walk pauses for the
// receiver's decisions many times and the copy is still whole.
func TestWalkWaitsForTheReceiver(t *testing.T) {
	defer func(n int) { maxUndecided = n }(maxUndecided)
	maxUndecided = 16
	src, dst := t.TempDir(), t.TempDir()
	for i := range 400 {
		write(t, filepath.Join(src, fmt.Sprintf("d%d/f%d", i%3, i)), fmt.Sprint(i))
	}
	if _, err := copyTree(t, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, src, dst)
}
