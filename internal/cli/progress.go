package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ferrydvm/ferry/internal/engine"
)

// reporter shows the progress of a send: bars on a terminal, a log line every few seconds
// otherwise, JSON lines with --json. One goroutine samples the engine's counters and turns
// each sample into a progressView (the rate over the last rateWindow, the ETA); every
// display, and the reports for ferry migrate, show that view.
type reporter struct {
	mode string
	g    *GlobalOptions
	out  io.Writer
	cur  atomic.Pointer[engine.Progress]
	// reconnects counts resumptions after cut connections.
	reconnects atomic.Int64
	quit       chan struct{}
	done       sync.WaitGroup
	latest     atomic.Pointer[progressView]
}

// How often the reporter samples and shows progress.
const (
	sampleEvery = 500 * time.Millisecond
	barsEvery   = 200 * time.Millisecond
	logEvery    = 5 * time.Second
	jsonEvery   = time.Second
)

func newReporter(o *SendOptions, g *GlobalOptions) *reporter {
	mode := o.Progress
	switch {
	case o.JSON:
		mode = "json"
	case mode == "auto" && isTerminal(g.Stderr):
		mode = "bars"
	case mode == "auto":
		mode = "log"
	}
	r := &reporter{mode: mode, g: g, out: g.Stdout, quit: make(chan struct{})}
	r.latest.Store(&progressView{ETA: -1})
	r.done.Add(1)
	go r.loop()
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// watch switches to the counters of a new attempt.
func (r *reporter) watch(p *engine.Progress) { r.cur.Store(p) }

func (r *reporter) stop() {
	close(r.quit)
	r.done.Wait()
}

func (r *reporter) snapshot() engine.Snapshot {
	if p := r.cur.Load(); p != nil {
		return p.Snapshot()
	}
	return engine.Snapshot{}
}

// loop samples the counters, in every mode (the ConfigMap reports of --report-configmap
// read the rate too), and shows them as the mode says.
func (r *reporter) loop() {
	defer r.done.Done()
	var (
		interval = sampleEvery
		show     func(progressView)
		every    time.Duration
		bars     *progressBars
	)
	switch r.mode {
	case "bars":
		bars = newProgressBars(r.g.Stderr)
		interval = barsEvery
		show, every = bars.update, barsEvery
	case "log":
		show, every = r.logLine, logEvery
	case "json":
		show, every = r.jsonLine, jsonEvery
	}
	var meter rateMeter
	var watched *engine.Progress
	prev := time.Now()
	sample := func(now time.Time) progressView {
		p := r.cur.Load()
		if p != watched {
			// A new attempt, whose counters start from 0: they were still 0 at the
			// previous sample, when this attempt had not begun.
			watched, meter = p, rateMeter{}
			meter.observe(prev, 0)
		}
		prev = now
		s := r.snapshot()
		rate, known := meter.observe(now, s.BytesTransferred)
		v := newProgressView(s, rate, known)
		r.latest.Store(&v)
		return v
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case now := <-t.C:
			v := sample(now)
			if show != nil && now.Sub(last) >= every-interval/2 {
				show(v)
				last = now
			}
		case <-r.quit:
			if bars != nil {
				bars.finish(sample(time.Now()))
			}
			return
		}
	}
}

func (r *reporter) every(d time.Duration, fn func(engine.Snapshot)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn(r.snapshot())
		case <-r.quit:
			return
		}
	}
}

// eta is the rate of the last sample and the seconds left for s at that rate, -1 when
// unknown (for the ConfigMap reports).
func (r *reporter) eta(s engine.Snapshot) (rate float64, eta float64) {
	last := r.latest.Load()
	v := newProgressView(s, last.Rate, last.RateKnown)
	if v.ETA < 0 {
		return v.Rate, -1
	}
	return v.Rate, v.ETA.Seconds()
}

// rateWindow is how far back the rate looks: long enough to smooth the steps of 1 MiB
// pieces on a slow link, short enough to follow a change of speed. The rate is unknown
// until the samples since data started to flow span rateMinSpan.
const (
	rateWindow  = 10 * time.Second
	rateMinSpan = time.Second
)

// rateMeter turns samples of the bytes transferred into a rate.
type rateMeter struct {
	samples []rateSample // oldest first: one at or before the window's start, then those in it
}

type rateSample struct {
	at    time.Time
	bytes int64
}

// observe adds a sample and returns the rate over the window, with known false until the
// window is long enough. Samples while nothing was transferred yet keep only the last: the
// rate counts from when data started to flow, not from the start of the run.
func (m *rateMeter) observe(at time.Time, bytes int64) (rate float64, known bool) {
	if n := len(m.samples); bytes == 0 || n > 0 && bytes < m.samples[n-1].bytes {
		m.samples = m.samples[:0]
	}
	m.samples = append(m.samples, rateSample{at, bytes})
	i := 0
	for i+1 < len(m.samples) && !m.samples[i+1].at.After(at.Add(-rateWindow)) {
		i++
	}
	m.samples = append(m.samples[:0], m.samples[i:]...)
	first := m.samples[0]
	span := at.Sub(first.at)
	if span < rateMinSpan {
		return 0, false
	}
	return float64(bytes-first.bytes) / span.Seconds(), true
}

// progressView is one reading of a run's progress: what the bars, the log lines and the
// JSON events show.
type progressView struct {
	engine.Snapshot
	Rate      float64       // bytes transferred per second over the last rateWindow
	RateKnown bool          // false until data has flowed for rateMinSpan
	ETA       time.Duration // time left at Rate; -1 while unknown
}

// newProgressView adds the ETA to a snapshot and a rate. The ETA is unknown while the
// walk runs (the total still grows) and while the rate is unknown or 0; it is rounded to
// the second, and at least one while bytes are left.
func newProgressView(s engine.Snapshot, rate float64, known bool) progressView {
	v := progressView{Snapshot: s, Rate: rate, RateKnown: known, ETA: -1}
	if !known {
		v.Rate = 0
	}
	left := s.BytesNeeded - s.BytesTransferred
	switch {
	case !s.WalkDone || !known:
	case left <= 0:
		v.ETA = 0
	case rate > 0:
		v.ETA = time.Duration(max(math.Round(float64(left)/rate), 1)) * time.Second
	}
	return v
}

// totalBytes is the size of the bytes bar: what the receiver asked for so far.
func (v progressView) totalBytes() int64 { return max(v.BytesNeeded, v.BytesTransferred) }

func (v progressView) rateText() string {
	if !v.RateKnown {
		return "unknown"
	}
	return humanBytes(int64(v.Rate)) + "/s"
}

func (v progressView) etaText() string { return etaText(v.ETA) }

// etaText shows a time left, "unknown" when negative.
func etaText(d time.Duration) string {
	if d < 0 {
		return "unknown"
	}
	return d.Round(time.Second).String()
}

// logLine is the progress as a log line: files and bytes done of those needed, the bytes
// verified and sent (less than done when the receiver reused blocks of its copy), rate and
// ETA.
func (r *reporter) logLine(v progressView) {
	r.g.Logger().Info("progress",
		"files", fmt.Sprintf("%d/%d", v.FilesDone, v.FilesNeeded),
		"bytes", humanBytes(v.BytesTransferred)+"/"+humanBytes(v.totalBytes()),
		"verified", humanBytes(v.BytesDone), "sent", humanBytes(v.BytesSent),
		"rate", v.rateText(), "eta", v.etaText(),
		"files_seen", v.FilesSeen, "walk_done", v.WalkDone)
}

// jsonEvent is the progress event of --json. bytes_transferred of bytes_needed is the
// progress of the data; bytes_done and files_done count what the receiver verified;
// bytes_sent is the data that travelled. rate_bytes_per_second is 0 and eta_seconds -1
// while unknown.
func jsonEvent(v progressView) map[string]any {
	eta := int64(-1)
	if v.ETA >= 0 {
		eta = int64(v.ETA / time.Second)
	}
	return map[string]any{
		"event": "progress", "files_done": v.FilesDone, "files_needed": v.FilesNeeded, "files_seen": v.FilesSeen,
		"bytes_done": v.BytesDone, "bytes_needed": v.BytesNeeded, "bytes_sent": v.BytesSent,
		"bytes_transferred": v.BytesTransferred, "walk_done": v.WalkDone,
		"rate_bytes_per_second": int64(v.Rate), "eta_seconds": eta,
	}
}

func (r *reporter) jsonLine(v progressView) { writeJSON(r.out, jsonEvent(v)) }

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

// progressBars draws a bytes bar (transferred, with rate and ETA) and a files bar
// (verified) whose totals grow while the walk runs.
type progressBars struct {
	p            *mpb.Progress
	bytes, files *mpb.Bar
	view         atomic.Pointer[progressView] // what the rate and ETA decorators show
}

func newProgressBars(w io.Writer) *progressBars {
	b := &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(barsEvery), mpb.WithWidth(40))}
	b.view.Store(&progressView{ETA: -1})
	b.bytes = b.p.AddBar(0,
		mpb.PrependDecorators(decor.Name("bytes ", decor.WCSyncSpaceR), decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return barRate(*b.view.Load()) })))
	b.files = b.p.AddBar(0,
		mpb.PrependDecorators(decor.Name("files ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Percentage(), decor.Any(func(decor.Statistics) string {
			return " verified " + humanBytes(b.view.Load().BytesDone)
		})))
	return b
}

// barRate is what follows the bytes bar.
func barRate(v progressView) string {
	rate := v.rateText()
	if !v.RateKnown {
		rate = "rate unknown"
	}
	return rate + ", ETA " + v.etaText()
}

func (b *progressBars) update(v progressView) { b.set(v, false) }

func (b *progressBars) set(v progressView, final bool) {
	b.view.Store(&v)
	b.bytes.SetTotal(v.totalBytes(), final)
	b.bytes.SetCurrent(v.BytesTransferred)
	b.files.SetTotal(max(v.FilesNeeded, v.FilesDone), final)
	b.files.SetCurrent(v.FilesDone)
}

func (b *progressBars) finish(v progressView) {
	b.set(v, true)
	b.bytes.Abort(false)
	b.files.Abort(false)
	b.p.Wait()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printSummary(g *GlobalOptions, o *SendOptions, src, dst string, res *engine.Result) {
	verified := len(res.Errors) == 0 && res.Verified == res.Transferred
	if o.JSON {
		writeJSON(g.Stdout, map[string]any{
			"event": "summary", "source": src, "destination": dst,
			"entries": res.Entries, "files": res.Transferred, "bytes": res.Bytes, "wire_bytes": res.WireBytes,
			"verified_files": res.Verified, "verified": verified, "deleted": res.Deleted,
			"seconds": res.Duration.Seconds(), "errors": nonNil(res.Errors), "notices": nonNil(res.Notices),
		})
		return
	}
	fmt.Fprintf(g.Stdout, "%s -> %s: %d entries, %d sent (%s), %d verified, %d deleted, %s on the wire, %.2fs\n",
		src, dst, res.Entries, res.Transferred, humanBytes(res.Bytes), res.Verified, res.Deleted, humanBytes(res.WireBytes), res.Duration.Seconds())
	for _, n := range res.Notices {
		fmt.Fprintf(g.Stdout, "  notice: %s\n", n)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(g.Stdout, "  error: %s\n", e)
	}
	if verified {
		fmt.Fprintln(g.Stdout, "complete: every file sent was verified against its BLAKE3 digest")
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
