package cli

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	bars     map[string]*volumeBar
}

// volumeBar is a volume's bar and the last progress it shows.
type volumeBar struct {
	bar  *mpb.Bar
	last atomic.Pointer[v1alpha1.VolumeProgress]
}

func newMigrateReporter(json bool, g *GlobalOptions) *migrateReporter {
	r := &migrateReporter{json: json, g: g, start: time.Now(), bars: map[string]*volumeBar{}}
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
				"files", fmt.Sprintf("%d/%d", v.Files, v.TotalFiles), "bytes", humanBytes(volumeBytesDone(v))+"/"+humanBytes(v.TotalBytes),
				"verified", humanBytes(v.Bytes), "sent", humanBytes(v.SentBytes), "rate", humanBytes(v.RateBytesPerSecond)+"/s", "eta", volumeETA(v), "retries", v.Retries)
		}
		r.g.Logger().Info("progress", "volume", "total", "files", fmt.Sprintf("%d/%d", total.Files, total.TotalFiles),
			"bytes", humanBytes(total.TransferredBytes)+"/"+humanBytes(total.TotalBytes), "rate", humanBytes(total.RateBytesPerSecond)+"/s")
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
		t.TransferredBytes += kube.BytesTransferred(v)
		t.RateBytesPerSecond += v.RateBytesPerSecond
		t.Retries += v.Retries
	}
	return t
}

// drawBars keeps one bytes bar per volume, with the rate and ETA its sender reported.
func (r *migrateReporter) drawBars(vols []v1alpha1.VolumeProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range vols {
		key := v.PVCRef.Namespace + "/" + v.PVCRef.Name
		vb, ok := r.bars[key]
		if !ok {
			vb = &volumeBar{}
			vb.last.Store(&v1alpha1.VolumeProgress{})
			vb.bar = r.progress.AddBar(0,
				mpb.PrependDecorators(decor.Name(key, decor.WCSyncSpaceR), decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
					v := vb.last.Load()
					return humanBytes(v.RateBytesPerSecond) + "/s ETA " + volumeETA(*v) + " "
				}), decor.Percentage()))
			r.bars[key] = vb
		}
		vb.last.Store(&v)
		final := v.Phase == v1alpha1.PhaseSucceeded || v.Phase == v1alpha1.PhaseFailed
		done := volumeBytesDone(v)
		vb.bar.SetTotal(max(v.TotalBytes, done), final)
		vb.bar.SetCurrent(done)
	}
}

// volumeBytesDone is how far a volume's bar and log line go: the bytes that have gone out
// (kube.BytesTransferred), which the rate and the ETA its sender reports are measured on.
// The bytes verified lag behind (a large file is verified only once all of it arrived),
// and the data sent is less when a delta lets the target reuse its blocks.
func volumeBytesDone(v v1alpha1.VolumeProgress) int64 { return kube.BytesTransferred(v) }

// volumeETA is the time left its sender reported. The status holds 0 (with a rate of 0)
// while the sender cannot tell, and 0 with no bytes to copy is a volume not reported on yet.
func volumeETA(v v1alpha1.VolumeProgress) string {
	switch {
	case v.Phase == v1alpha1.PhaseSucceeded:
		return etaText(0)
	case v.ETASeconds <= 0 && v.RateBytesPerSecond <= 0, v.ETASeconds == 0 && v.TotalBytes == 0:
		return etaText(-1)
	}
	return etaText(time.Duration(v.ETASeconds) * time.Second)
}

// finish prints the summary: every volume's outcome, and the plan of a dry run.
func (r *migrateReporter) finish(res *kube.Result, err error) {
	if r.progress != nil {
		r.mu.Lock()
		for _, b := range r.bars {
			b.bar.Abort(false)
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
