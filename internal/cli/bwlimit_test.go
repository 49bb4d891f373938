package cli

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// `ferry send --bwlimit` paces what the whole run writes, over all of its connections
// together: 4 MiB at 2 MiB/s over two connections take about 2 s, where the same copy without
// the flag takes a fraction of that. The bound is a floor the limiter guarantees, not a
// measure of speed: a loaded machine only makes the limited run slower.
func TestSendBWLimit(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "certs")
	if _, errs, code := run("certs", "generate", "--out", certs); code != 0 {
		t.Fatalf("certs generate: %s", errs)
	}
	src, slow, fast := t.TempDir(), t.TempDir(), t.TempDir()
	for i := range 4 { // four files, so that both connections carry data
		b := make([]byte, 1<<20)
		rand.NewChaCha8([32]byte{byte(i)}).Read(b) // incompressible
		if err := os.WriteFile(filepath.Join(src, "f"+strconv.Itoa(i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gs, _, _ := globals()
	addr := background(t, func(ctx context.Context, ready chan<- string) error {
		return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certs, Volumes: []string{"slow=" + slow, "fast=" + fast}, Grace: time.Second, Ready: ready}, gs)
	})

	// send runs `ferry send` as a user would type it, and returns how long it took.
	send := func(volume string, flags ...string) time.Duration {
		t.Helper()
		g, _, errs := globals()
		root := NewRootCommand(g)
		root.SetArgs(append([]string{"send", src, addr + "/" + volume, "--certs", certs, "--server-name", "localhost",
			"--progress", "none", "--retries", "0", "--workers", "2", "--streams", "2"}, flags...))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		err := root.ExecuteContext(ctx)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("send %v: %v\n%s", flags, err, errs)
		}
		mustNotSay(t, "the log", errs.String(), "fewer connections")
		return took
	}
	limited := send("slow", "--bwlimit", "2MiB")
	unlimited := send("fast")
	t.Logf("4 MiB with --bwlimit 2MiB: %v; without: %v", limited, unlimited)
	for _, dst := range []string{slow, fast} {
		if out, err := exec.Command("diff", "-r", src, dst).CombinedOutput(); err != nil {
			t.Errorf("trees differ: %s", out)
		}
	}
	// 4 MiB at 2 MiB/s, less the limiter's initial burst (a tenth of a second's worth).
	if limited < 1500*time.Millisecond {
		t.Errorf("4 MiB with --bwlimit 2MiB took %v: the limit is not applied to everything send writes", limited)
	}
	// No limit without the flag is not asserted by time (a loaded machine can be slow): an
	// empty --bwlimit parses to 0 (TestParseRate) and a rate of 0 makes no limiter
	// (tunnel.TestLimitWritesNoLimit).
}
