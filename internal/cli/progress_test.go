package cli

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/api/v1alpha1"

	"github.com/ferrydvm/ferry/internal/engine"
)

const mib = 1 << 20

func TestRateMeter(t *testing.T) {
	type sample struct {
		at    time.Duration
		bytes int64
	}
	for _, tc := range []struct {
		name    string
		samples []sample
		rate    float64
		known   bool
	}{
		{"nothing moved yet", []sample{{0, 0}, {time.Second, 0}, {5 * time.Second, 0}}, 0, false},
		{"data for less than a second", []sample{{0, 0}, {2 * time.Second, 0}, {2500 * time.Millisecond, mib}}, 0, false},
		{"counted from when data started", []sample{{0, 0}, {4 * time.Second, 0}, {4500 * time.Millisecond, mib}, {5 * time.Second, 2 * mib}}, 2 * mib, true},
		{"steps of 1 MiB at 2 MiB/s", func() []sample {
			var s []sample
			for i := range 41 { // 20 s sampled every 500 ms
				s = append(s, sample{time.Duration(i) * 500 * time.Millisecond, int64(i) * mib})
			}
			return s
		}(), 2 * mib, true},
		{"the window follows a change of speed", func() []sample {
			var s []sample
			for i := range 21 { // 8 MiB/s for 10 s, then 1 MiB/s for 10 s
				s = append(s, sample{time.Duration(i) * time.Second, int64(min(i, 10)*8+max(i-10, 0)) * mib})
			}
			return s
		}(), mib, true},
		{"a stall after data flowed", []sample{{0, 0}, {time.Second, 2 * mib}, {2 * time.Second, 4 * mib}, {15 * time.Second, 4 * mib}}, 0, true},
		{"counters that start again", []sample{{0, 0}, {time.Second, 2 * mib}, {2 * time.Second, 4 * mib}, {2500 * time.Millisecond, mib}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m rateMeter
			t0 := time.Now()
			var rate float64
			var known bool
			for _, s := range tc.samples {
				rate, known = m.observe(t0.Add(s.at), s.bytes)
			}
			if known != tc.known || known && (rate < tc.rate*0.99 || rate > tc.rate*1.01) {
				t.Errorf("rate %.0f known %v, want %.0f %v", rate, known, tc.rate, tc.known)
			}
		})
	}
}

// audit is the run the audit watched: a 12 MiB file at 2 MiB/s, half of it sent.
var audit = engine.Snapshot{FilesSeen: 1, BytesSeen: 12 * mib, WalkDone: true, FilesNeeded: 1, BytesNeeded: 12 * mib,
	BytesSent: 6 * mib, BytesTransferred: 6 * mib}

func TestProgressView(t *testing.T) {
	walking := audit
	walking.WalkDone = false
	sent := audit
	sent.BytesSent, sent.BytesTransferred = 12*mib, 12*mib
	nearly := audit
	nearly.BytesTransferred = 12*mib - 1
	for _, tc := range []struct {
		name          string
		s             engine.Snapshot
		rate          float64
		known         bool
		eta           time.Duration
		bar, rateText string
	}{
		{"half way at 2 MiB/s", audit, 2 * mib, true, 3 * time.Second, "2.0 MiB/s, ETA 3s", "2.0 MiB/s"},
		{"rate not known yet", audit, 0, false, -1, "rate unknown, ETA unknown", "unknown"},
		{"walk still running", walking, 2 * mib, true, -1, "2.0 MiB/s, ETA unknown", "2.0 MiB/s"},
		{"stalled", audit, 0, true, -1, "0 B/s, ETA unknown", "0 B/s"},
		{"all data out, being verified", sent, 0, true, 0, "0 B/s, ETA 0s", "0 B/s"},
		{"a second is the least left", nearly, 2 * mib, true, time.Second, "2.0 MiB/s, ETA 1s", "2.0 MiB/s"},
		{"slow", audit, 100 << 10, true, 61 * time.Second, "100.0 KiB/s, ETA 1m1s", "100.0 KiB/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newProgressView(tc.s, tc.rate, tc.known)
			if v.ETA != tc.eta {
				t.Errorf("ETA %v, want %v", v.ETA, tc.eta)
			}
			if got := barRate(v); got != tc.bar {
				t.Errorf("bar shows %q, want %q", got, tc.bar)
			}
			if got := v.rateText(); got != tc.rateText {
				t.Errorf("rate %q, want %q", got, tc.rateText)
			}
		})
	}
}

func TestProgressLogLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     engine.Snapshot
		rate  float64
		known bool
		want  string
	}{
		{"half way", audit, 2 * mib, true,
			`msg=progress files=0/1 bytes="6.0 MiB/12.0 MiB" verified="0 B" sent="6.0 MiB" rate="2.0 MiB/s" eta=3s files_seen=1 walk_done=true`},
		{"rate unknown", audit, 0, false,
			`msg=progress files=0/1 bytes="6.0 MiB/12.0 MiB" verified="0 B" sent="6.0 MiB" rate=unknown eta=unknown files_seen=1 walk_done=true`},
		{"verified", engine.Snapshot{FilesSeen: 3, BytesSeen: 13 * mib, WalkDone: true, FilesNeeded: 2, BytesNeeded: 12 * mib,
			FilesDone: 2, BytesDone: 12 * mib, BytesSent: 40 << 10, BytesTransferred: 12 * mib}, 3 * mib, true,
			`msg=progress files=2/2 bytes="12.0 MiB/12.0 MiB" verified="12.0 MiB" sent="40.0 KiB" rate="3.0 MiB/s" eta=0s files_seen=3 walk_done=true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, errs := globals()
			r := &reporter{g: g}
			r.logLine(newProgressView(tc.s, tc.rate, tc.known))
			if !strings.Contains(errs.String(), tc.want) {
				t.Errorf("log line\n%s\nwant\n%s", errs, tc.want)
			}
		})
	}
}

func TestProgressJSONEvent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		known bool
		want  map[string]float64
	}{
		{"half way", 2 * mib, true, map[string]float64{"bytes_transferred": 6 * mib, "bytes_needed": 12 * mib, "bytes_done": 0,
			"bytes_sent": 6 * mib, "files_done": 0, "files_needed": 1, "rate_bytes_per_second": 2 * mib, "eta_seconds": 3}},
		{"rate unknown", 0, false, map[string]float64{"bytes_transferred": 6 * mib, "rate_bytes_per_second": 0, "eta_seconds": -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, out, _ := globals()
			r := &reporter{g: g, out: g.Stdout}
			r.jsonLine(newProgressView(audit, tc.rate, tc.known))
			var ev map[string]any
			if err := json.Unmarshal([]byte(out.String()), &ev); err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			if ev["event"] != "progress" || ev["walk_done"] != true {
				t.Errorf("event %v", ev)
			}
			for k, want := range tc.want {
				if ev[k] != want {
					t.Errorf("%s = %v, want %v (%s)", k, ev[k], want, out)
				}
			}
		})
	}
}

// TestSendJSONProgressWhileDataFlows sends a file at 2 MiB/s with --json: progress events
// show its bytes rising, with a rate and an ETA, before it is verified.
func TestSendJSONProgressWhileDataFlows(t *testing.T) {
	certsDir := filepath.Join(t.TempDir(), "certs")
	run("certs", "generate", "--out", certsDir)
	src, dst := t.TempDir(), t.TempDir()
	const size = 8 * mib
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	os.WriteFile(filepath.Join(src, "big"), data, 0o640)
	gs, _, _ := globals()
	addr := background(t, func(ctx context.Context, ready chan<- string) error {
		return runServe(ctx, &ServeOptions{Listen: "127.0.0.1:0", Certs: certsDir, Volumes: []string{"v=" + dst}, Grace: time.Second, Ready: ready}, gs)
	})
	g, out, errs := globals()
	err := runSend(context.Background(), &SendOptions{Certs: certsDir, ServerName: "localhost", JSON: true, BWLimit: "2MiB", Streams: 1}, g, []string{src, addr + "/v"})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errs)
	}
	type event struct {
		Event            string
		BytesTransferred int64 `json:"bytes_transferred"`
		BytesNeeded      int64 `json:"bytes_needed"`
		FilesDone        int64 `json:"files_done"`
		Rate             int64 `json:"rate_bytes_per_second"`
		ETA              int64 `json:"eta_seconds"`
		Bytes            int64
	}
	t.Logf("%s", out)
	moving := 0
	var last, prev event
	for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		last = e
		if e.Event != "progress" {
			continue
		}
		if e.BytesTransferred > size || e.BytesTransferred < prev.BytesTransferred {
			t.Errorf("bytes transferred %d after %d, of %d", e.BytesTransferred, prev.BytesTransferred, size)
		}
		prev = e
		if e.BytesTransferred < e.BytesNeeded && e.ETA >= 0 && e.Rate <= 0 {
			t.Errorf("an ETA of %ds at a rate of %d B/s: %s", e.ETA, e.Rate, line)
		}
		if e.FilesDone == 0 && e.BytesTransferred > 0 && e.BytesTransferred < size && e.Rate > 0 && e.ETA > 0 {
			moving++
		}
	}
	if moving == 0 {
		t.Errorf("no progress event showed the file's data moving with a rate and an ETA:\n%s", out)
	}
	if last.Event != "summary" || last.Bytes != size {
		t.Errorf("last event %+v", last)
	}
}

func TestVolumeETA(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    v1alpha1.VolumeProgress
		want string
	}{
		{"not estimated yet (a status holds 0 and a rate of 0)", v1alpha1.VolumeProgress{TotalBytes: 10}, etaText(-1)},
		{"not reported on yet", v1alpha1.VolumeProgress{}, etaText(-1)},
		{"estimated", v1alpha1.VolumeProgress{TotalBytes: 10, RateBytesPerSecond: 1, ETASeconds: 5}, etaText(5 * time.Second)},
		{"all sent", v1alpha1.VolumeProgress{TotalBytes: 10, RateBytesPerSecond: 1}, etaText(0)},
		{"succeeded", v1alpha1.VolumeProgress{Phase: v1alpha1.PhaseSucceeded}, etaText(0)},
	} {
		if got := volumeETA(tc.v); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
