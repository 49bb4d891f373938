package controller

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	th := newThrottle(40*time.Millisecond, func() { mu.Lock(); at = append(at, time.Now()); mu.Unlock() })
	start := time.Now()
	for time.Since(start) < 130*time.Millisecond {
		th.Kick()
		time.Sleep(time.Millisecond)
	}
	th.Kick()
	th.Close()
	if len(at) < 2 || len(at) > 5 {
		t.Errorf("%d flushes in 130 ms at most every 40 ms", len(at))
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 35*time.Millisecond {
			t.Errorf("flushes %v apart", d)
		}
	}
	// The last Kick is flushed by Close.
	if last := at[len(at)-1]; last.Before(start.Add(130 * time.Millisecond)) {
		t.Errorf("the last flush came %v after the start, before the last Kick", last.Sub(start))
	}
	// Nothing pending: Close flushes nothing.
	n := 0
	th = newThrottle(time.Millisecond, func() { n++ })
	th.Close()
	if n != 0 {
		t.Errorf("%d flushes without a Kick", n)
	}
}

func TestScrubber(t *testing.T) {
	s := newScrubber([]string{"http://u:p%40ss%20word@proxy:3128", "http://short:pw@other:1"})
	for in, want := range map[string]string{
		"dial http://u:p%40ss%20word@proxy:3128: refused": "dial http://u:xxxxx@proxy:3128: refused",
		"auth for u with p@ss word failed":                "auth for u with xxxxx failed",
		"escaped p%40ss%20word":                           "escaped xxxxx",
		"via http://short:pw@other:1":                     "via http://short:xxxxx@other:1",
	} {
		if got := s.clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (scrubber{}).clean("as is"); got != "as is" {
		t.Errorf("no proxies: %q", got)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("short", 10); got != "short" {
		t.Errorf("%q", got)
	}
	long := strings.Repeat("é", 20) // 40 bytes
	got := truncate(long, 11)
	if len(got) > 11 || !strings.HasSuffix(got, " …") || !strings.HasPrefix(got, "ééé") {
		t.Errorf("truncate = %q (%d bytes)", got, len(got))
	}
}
