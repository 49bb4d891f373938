package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/kube"
)

// migrateReporter shows a migration: steps and a progress line every few seconds as log
// lines, or everything as JSON lines with -o json.
type migrateReporter struct {
	json  bool
	g     *GlobalOptions
	last  time.Time
	start time.Time
}

func newMigrateReporter(json bool, g *GlobalOptions) *migrateReporter {
	return &migrateReporter{json: json, g: g, start: time.Now()}
}

func (r *migrateReporter) Step(msg string) {
	if r.json {
		writeJSON(r.g.Stdout, map[string]any{"event": "step", "message": msg})
		return
	}
	r.g.Logger().Info(msg)
}

func (r *migrateReporter) Progress(vols []v1alpha1.VolumeProgress) {
	if r.json {
		writeJSON(r.g.Stdout, map[string]any{"event": "progress", "volumes": vols})
		return
	}
	if time.Since(r.last) < 5*time.Second {
		return
	}
	r.last = time.Now()
	for _, v := range vols {
		r.g.Logger().Info("progress", "volume", v.PVCRef.Namespace+"/"+v.PVCRef.Name, "phase", v.Phase,
			"files", fmt.Sprintf("%d/%d", v.Files, v.TotalFiles), "bytes", humanBytes(v.Bytes)+"/"+humanBytes(v.TotalBytes),
			"rate", humanBytes(v.RateBytesPerSecond)+"/s", "eta", eta(v.ETASeconds), "retries", v.Retries)
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
	if res == nil {
		res = &kube.Result{}
	}
	verified := err == nil && len(res.Volumes) > 0
	for _, v := range res.Volumes {
		verified = verified && v.Verified
	}
	if r.json {
		out := map[string]any{"event": "summary", "id": res.Plan.ID, "endpoint": res.Plan.Endpoint, "volumes": res.Volumes,
			"verified": verified, "seconds": time.Since(r.start).Seconds(), "receivers": res.Plan.Receivers}
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
	for _, v := range res.Volumes {
		fmt.Fprintf(w, "%s/%s -> %s: %s, %d files, %s, %d retries", v.PVCRef.Namespace, v.PVCRef.Name, v.TargetName,
			v.Phase, v.Files, humanBytes(v.Bytes), v.Retries)
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
