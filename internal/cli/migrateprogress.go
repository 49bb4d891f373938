package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// migrateReporter shows a migration: steps as log lines and progress as a bar per volume
// on a terminal, a progress line every few seconds otherwise, everything as JSON lines
// with -o json.
type migrateReporter struct {
	json  bool
	g     *GlobalOptions
	last  time.Time
	start time.Time

	mu       sync.Mutex
	progress *mpb.Progress
	bars     map[string]*mpb.Bar
}

func newMigrateReporter(json bool, g *GlobalOptions) *migrateReporter {
	r := &migrateReporter{json: json, g: g, start: time.Now(), bars: map[string]*mpb.Bar{}}
	if !json && isTerminal(g.Stderr) {
		r.progress = mpb.New(mpb.WithOutput(g.Stderr), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(30))
	}
	return r
}

func (r *migrateReporter) Step(msg string) {
	if r.json {
		writeJSON(r.g.Stdout, map[string]any{"event": "step", "message": msg})
		return
	}
	r.g.Logger().Info(msg)
}

func (r *migrateReporter) Progress(vols []v1alpha1.VolumeProgress) {
	total := totals(vols)
	switch {
	case r.json:
		writeJSON(r.g.Stdout, map[string]any{"event": "progress", "volumes": vols, "total": total})
	case r.progress != nil:
		r.drawBars(vols)
	case time.Since(r.last) >= 5*time.Second:
		r.last = time.Now()
		for _, v := range vols {
			r.g.Logger().Info("progress", "volume", v.PVCRef.Namespace+"/"+v.PVCRef.Name, "phase", v.Phase,
				"files", fmt.Sprintf("%d/%d", v.Files, v.TotalFiles), "bytes", humanBytes(v.Bytes)+"/"+humanBytes(v.TotalBytes),
				"rate", humanBytes(v.RateBytesPerSecond)+"/s", "eta", eta(v.ETASeconds), "retries", v.Retries)
		}
		r.g.Logger().Info("progress", "volume", "total", "files", fmt.Sprintf("%d/%d", total.Files, total.TotalFiles),
			"bytes", humanBytes(total.Bytes)+"/"+humanBytes(total.TotalBytes), "rate", humanBytes(total.RateBytesPerSecond)+"/s")
	}
}

// totals adds the volumes up; the rate is the sum of the senders' rates.
func totals(vols []v1alpha1.VolumeProgress) v1alpha1.VolumeProgress {
	var t v1alpha1.VolumeProgress
	for _, v := range vols {
		t.Files += v.Files
		t.TotalFiles += v.TotalFiles
		t.Bytes += v.Bytes
		t.TotalBytes += v.TotalBytes
		t.SentBytes += v.SentBytes
		t.RateBytesPerSecond += v.RateBytesPerSecond
		t.Retries += v.Retries
	}
	return t
}

// drawBars keeps one bytes bar per volume.
func (r *migrateReporter) drawBars(vols []v1alpha1.VolumeProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vols {
		key := v.PVCRef.Namespace + "/" + v.PVCRef.Name
		bar, ok := r.bars[key]
		if !ok {
			bar = r.progress.AddBar(0,
				mpb.PrependDecorators(decor.Name(key, decor.WCSyncSpaceR), decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
				mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.Percentage()))
			r.bars[key] = bar
		}
		final := v.Phase == v1alpha1.PhaseSucceeded || v.Phase == v1alpha1.PhaseFailed
		bar.SetTotal(max(v.TotalBytes, v.Bytes), final)
		bar.SetCurrent(v.Bytes)
	}
}

func eta(s int64) string {
	if s < 0 {
		return "unknown"
	}
	return (time.Duration(s) * time.Second).String()
}

// finish prints the summary: every volume's outcome, and the plan of a dry run.
func (r *migrateReporter) finish(res *kube.Result, err error) {
	if r.progress != nil {
		r.mu.Lock()
		for _, b := range r.bars {
			b.Abort(false)
		}
		r.mu.Unlock()
		r.progress.Wait()
	}
	if res == nil {
		res = &kube.Result{}
	}
	verified := err == nil && len(res.Volumes) > 0
	for _, v := range res.Volumes {
		verified = verified && v.Verified
	}
	if r.json {
		out := map[string]any{"event": "summary", "id": res.Plan.ID, "endpoint": res.Plan.Endpoint, "volumes": res.Volumes,
			"total": totals(res.Volumes), "verified": verified, "seconds": time.Since(r.start).Seconds(),
			"receivers": res.Plan.Receivers, "senders": res.Plan.Senders}
		if err != nil {
			out["error"] = err.Error()
		}
		writeJSON(r.g.Stdout, out)
		return
	}
	w := r.g.Stdout
	for _, rx := range res.Plan.Receivers {
		fmt.Fprintf(w, "receiver %s at %s: %s\n", rx.Namespace, rx.Address, strings.Join(rx.Claims, ", "))
	}
	for _, s := range res.Plan.Senders {
		node := s.Node
		if node == "" {
			node = "any node (the claim is not in use)"
		}
		fmt.Fprintf(w, "sender %s/%s -> %s: %s, on %s\n", s.Volume.Namespace, s.Volume.Name, s.Target, humanBytes(s.Size), node)
	}
	for _, v := range res.Volumes {
		fmt.Fprintf(w, "%s/%s -> %s: %s, %d files, %s (%s sent), %d retries", v.PVCRef.Namespace, v.PVCRef.Name, v.TargetName,
			v.Phase, v.Files, humanBytes(v.Bytes), humanBytes(v.SentBytes), v.Retries)
		if v.Verified {
			fmt.Fprint(w, ", verified")
		}
		if v.Message != "" && v.Phase == v1alpha1.PhaseFailed {
			fmt.Fprintf(w, ": %s", v.Message)
		}
		fmt.Fprintln(w)
	}
	if verified {
		fmt.Fprintf(w, "complete in %.1fs: every volume copied and verified\n", time.Since(r.start).Seconds())
	}
}
