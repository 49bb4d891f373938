package cli

import (
	"context"
	"sync"
	"time"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/kube"
)

// pusher sends a sender's progress to the API every few seconds, for `ferry migrate`
// to read: a pod's logs need the kubelet's API, a ConfigMap only the API server's.
type pusher struct {
	sink *kube.ConfigMapReporter
	rep  *reporter
	g    *GlobalOptions
	wg   sync.WaitGroup
}

// startPusher starts reporting into ConfigMap name; a nil pusher when name is empty.
func startPusher(ctx context.Context, name string, rep *reporter, g *GlobalOptions) (*pusher, error) {
	if name == "" {
		return nil, nil
	}
	sink, err := kube.NewConfigMapReporter(name)
	if err != nil {
		return nil, err
	}
	p := &pusher{sink: sink, rep: rep, g: g}
	// Reports stop with the reporter (rep.stop), before finish sends the last one.
	failing := false
	p.wg.Go(func() {
		rep.every(2*time.Second, func(s engine.Snapshot) {
			err := sink.Send(ctx, p.report(s))
			if err != nil && !failing {
				g.Logger().Warn("progress report failed; the copy goes on", "err", err)
			}
			failing = err != nil
		})
	})
	return p, nil
}

// reportWholeRun turns r, the report of the last attempt's counters, into the report of
// the whole run, for the final report: run is the Result of every attempt added up (see
// addAttempt). The files an earlier attempt verified were not asked for again, and are
// done, needed and transferred all the same; the file data sent is every attempt's, as
// what a cut attempt sent travelled too.
func reportWholeRun(r *kube.Report, run *engine.Result) {
	earlierFiles, earlierBytes := max(run.Transferred-r.FilesDone, 0), max(run.Bytes-r.BytesDone, 0)
	r.FilesDone, r.BytesDone = run.Transferred, run.Bytes
	r.FilesNeeded += earlierFiles
	r.BytesNeeded += earlierBytes
	r.BytesTransferred += earlierBytes
	r.BytesSent = max(r.BytesSent, run.SentBytes)
}

// report is a periodic report: the counters of the current attempt (s), with the rate and
// the ETA the reporter measured on its bytes transferred.
func (p *pusher) report(s engine.Snapshot) kube.Report {
	rate, eta := p.rep.eta(s)
	return kube.Report{
		FilesDone: s.FilesDone, FilesNeeded: s.FilesNeeded, BytesDone: s.BytesDone, BytesNeeded: s.BytesNeeded,
		BytesSent: s.BytesSent, BytesTransferred: s.BytesTransferred,
		WalkDone: s.WalkDone, Rate: int64(rate), ETA: int64(eta), Reconnects: int(p.rep.reconnects.Load()),
	}
}

// finish waits for the periodic reports to stop (the reporter must be stopped first) and
// sends the final one, retrying for a while: the migration decides from it whether the
// copy is verified. res is the whole run's Result (every attempt, see addAttempt), err
// how the run ended.
func (p *pusher) finish(ctx context.Context, res *engine.Result, err error) {
	if p == nil {
		return
	}
	p.wg.Wait()
	r := p.report(p.rep.snapshot())
	r.Done = true
	if res != nil {
		reportWholeRun(&r, res)
		r.Verified = err == nil && len(res.Errors) == 0 && res.Verified == res.Transferred
		r.Errors = res.Errors
	}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for {
		sendErr := p.sink.Send(ctx, r)
		if sendErr == nil {
			return
		}
		select {
		case <-ctx.Done():
			p.g.Logger().Error("final progress report failed", "err", sendErr)
			return
		case <-time.After(time.Second):
		}
	}
}
