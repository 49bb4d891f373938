package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ferrydvm/ferry/internal/engine"
)

// reporter shows the progress of a send: bars on a terminal, a log line every few seconds
// otherwise, JSON lines with --json.
type reporter struct {
	mode string
	g    *GlobalOptions
	out  io.Writer
	cur  atomic.Pointer[engine.Progress]
	// reconnects counts resumptions after cut connections.
	reconnects atomic.Int64
	quit       chan struct{}
	done       sync.WaitGroup
	start      time.Time
}

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
	r := &reporter{mode: mode, g: g, out: g.Stdout, quit: make(chan struct{}), start: time.Now()}
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

func (r *reporter) loop() {
	defer r.done.Done()
	switch r.mode {
	case "bars":
		r.bars()
	case "log":
		r.every(5*time.Second, r.logLine)
	case "json":
		r.every(time.Second, r.jsonLine)
	default:
		<-r.quit
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

// eta estimates the seconds left from the bytes done so far; -1 when unknown.
func (r *reporter) eta(s engine.Snapshot) (rate float64, eta float64) {
	el := time.Since(r.start).Seconds()
	if el <= 0 {
		return 0, -1
	}
	rate = float64(s.BytesDone) / el
	if !s.WalkDone || rate <= 0 {
		return rate, -1
	}
	return rate, float64(s.BytesNeeded-s.BytesDone) / rate
}

func (r *reporter) logLine(s engine.Snapshot) {
	rate, eta := r.eta(s)
	attrs := []any{"files_done", s.FilesDone, "files_needed", s.FilesNeeded, "files_seen", s.FilesSeen,
		"bytes_done", s.BytesDone, "bytes_needed", s.BytesNeeded, "rate", humanBytes(int64(rate)) + "/s", "walk_done", s.WalkDone}
	if eta >= 0 {
		attrs = append(attrs, "eta", (time.Duration(eta) * time.Second).String())
	}
	r.g.Logger().Info("progress", attrs...)
}

func (r *reporter) jsonLine(s engine.Snapshot) {
	rate, eta := r.eta(s)
	writeJSON(r.out, map[string]any{
		"event": "progress", "files_done": s.FilesDone, "files_needed": s.FilesNeeded, "files_seen": s.FilesSeen,
		"bytes_done": s.BytesDone, "bytes_needed": s.BytesNeeded, "bytes_sent": s.BytesSent,
		"walk_done": s.WalkDone, "rate_bytes_per_second": int64(rate), "eta_seconds": int64(eta),
	})
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

// bars draws a bytes bar and a files bar whose totals grow while the walk runs.
func (r *reporter) bars() {
	p := mpb.New(mpb.WithOutput(r.g.Stderr), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(40))
	bytesBar := p.AddBar(0,
		mpb.PrependDecorators(decor.Name("bytes ", decor.WCSyncSpaceR), decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
	filesBar := p.AddBar(0,
		mpb.PrependDecorators(decor.Name("files ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Percentage()))
	update := func(final bool) {
		s := r.snapshot()
		bytesBar.SetTotal(max(s.BytesNeeded, s.BytesDone), final)
		bytesBar.SetCurrent(s.BytesDone)
		filesBar.SetTotal(max(s.FilesNeeded, s.FilesDone), final)
		filesBar.SetCurrent(s.FilesDone)
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			update(false)
		case <-r.quit:
			update(true)
			bytesBar.Abort(false)
			filesBar.Abort(false)
			p.Wait()
			return
		}
	}
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
