package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/treediff"
	"github.com/ferrydvm/ferry/test/e2e/env"
)

// summary is the last line of `ferry migrate -o json`.
type summary struct {
	Event    string                    `json:"event"`
	ID       string                    `json:"id"`
	Verified bool                      `json:"verified"`
	Volumes  []v1alpha1.VolumeProgress `json:"volumes"`
	Error    string                    `json:"error"`
	Senders  []struct {
		Volume struct{ Namespace, Name string } `json:"volume"`
		Target string                           `json:"target"`
	} `json:"senders"`
}

// migrate runs `ferry migrate -o json` with args and returns its summary, the number of
// progress events it printed, and its exit error.
func migrate(t *testing.T, e *env.Env, kubeconfig string, args ...string) (summary, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	base := []string{"migrate", "--kubeconfig", kubeconfig, "--source-context", "source", "--target-context", "target",
		"--image", env.Image, "-o", "json"}
	cmd := exec.CommandContext(ctx, e.Ferry, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	shown := strings.ReplaceAll(strings.Join(args, " "), e.ProxyURL, "<squid with credentials>")
	t.Logf("ferry migrate %s: %v in %v", shown, err, time.Since(start).Round(time.Millisecond))
	var sum summary
	progress := 0
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev summary
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			t.Errorf("not a JSON line: %s", sc.Text())
			continue
		}
		switch ev.Event {
		case "progress":
			progress++
		case "summary":
			sum = ev
		case "step":
			t.Logf("  %s", sc.Text())
		}
	}
	if sum.Event != "summary" || err != nil && sum.Error == "" {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return sum, progress, err
}

// same fails the test when two trees differ.
func same(t *testing.T, what, a, b string) {
	t.Helper()
	diffs, err := treediff.Compare(t.Context(), a, b, treediff.Options{})
	if err != nil {
		t.Fatalf("%s: compare: %v", what, err)
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("%s: %d more differences", what, len(diffs)-10)
			break
		}
		t.Errorf("%s: %v", what, d)
	}
}

// nothingLeft fails the test when an object ferry made is still in a cluster.
func nothingLeft(t *testing.T, e *env.Env, namespaces ...string) {
	t.Helper()
	for _, s := range []*env.Side{e.Source, e.Target} {
		for _, ns := range namespaces {
			if left := s.Leftovers(t.Context(), ns); len(left) > 0 {
				t.Errorf("%s: left in %s: %v", s.Name, ns, left)
			}
		}
	}
}
