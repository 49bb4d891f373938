package cli

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/ferrydvm/ferry/internal/engine"
	"github.com/ferrydvm/ferry/internal/kube"
)

// A sender pod's report carries the bytes transferred, which its rate and ETA are
// measured on, so that ferry migrate can show the same progress: a 10 GiB file changed
// by 1 MiB, half gone out as a delta, is half done although little data travelled.
func TestSenderReportCarriesBytesTransferred(t *testing.T) {
	rep := &reporter{}
	rep.latest.Store(&progressView{Rate: gib, RateKnown: true, ETA: -1})
	p := &pusher{rep: rep}
	r := p.report(engine.Snapshot{FilesSeen: 1, BytesSeen: 10 * gib, WalkDone: true, FilesNeeded: 1, BytesNeeded: 10 * gib,
		BytesSent: 512 << 10, BytesTransferred: 5 * gib})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	json.Unmarshal(b, &got)
	for k, want := range map[string]float64{"bytes_transferred": 5 * gib, "bytes_needed": 10 * gib, "bytes_sent": 512 << 10,
		"bytes_done": 0, "rate_bytes_per_second": gib, "eta_seconds": 5} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("report %s = %v, want %v (%s)", k, v, want, b)
		}
	}
}

// The final report of a sender pod counts the whole run: what the earlier attempts verified
// is done, was needed and was transferred, as well as what the last one did, and the file
// data every attempt sent travelled.
func TestFinalReportCountsTheWholeRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		last kube.Report // the snapshot of the last attempt
		run  engine.Result
		want kube.Report
	}{
		{
			// The last attempt asked for 3 files (30 bytes), sent them (25 bytes of data, a
			// delta reused the rest) and verified 2 (20); the whole run verified 5 files (50
			// bytes) and sent 70 bytes of data.
			"after a reconnect",
			kube.Report{FilesDone: 2, FilesNeeded: 3, BytesDone: 20, BytesNeeded: 30, BytesSent: 25, BytesTransferred: 30},
			engine.Result{Transferred: 5, Bytes: 50, SentBytes: 70},
			kube.Report{FilesDone: 5, FilesNeeded: 6, BytesDone: 50, BytesNeeded: 60, BytesSent: 70, BytesTransferred: 60},
		},
		{
			// The last attempt could not connect: its counters are 0.
			"the last attempt did not connect",
			kube.Report{},
			engine.Result{Transferred: 5, Bytes: 50, SentBytes: 70},
			kube.Report{FilesDone: 5, FilesNeeded: 5, BytesDone: 50, BytesNeeded: 50, BytesSent: 70, BytesTransferred: 50},
		},
		{
			"one attempt",
			kube.Report{FilesDone: 3, FilesNeeded: 3, BytesDone: 30, BytesNeeded: 30, BytesSent: 25, BytesTransferred: 30},
			engine.Result{Transferred: 3, Bytes: 30, SentBytes: 25},
			kube.Report{FilesDone: 3, FilesNeeded: 3, BytesDone: 30, BytesNeeded: 30, BytesSent: 25, BytesTransferred: 30},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.last
			reportWholeRun(&r, &tc.run)
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("final report\n%+v, want\n%+v", r, tc.want)
			}
			if r.BytesTransferred > r.BytesNeeded || r.BytesDone > r.BytesNeeded {
				t.Errorf("final report %+v: more done or transferred than needed", r)
			}
		})
	}
}

// The run's Result adds up the file data of every attempt, as it does the wire bytes.
func TestAddAttemptSumsEveryAttempt(t *testing.T) {
	var total *engine.Result
	total = addAttempt(total, &engine.Result{Entries: 9, Transferred: 2, Bytes: 20, Verified: 2, SentBytes: 45, WireBytes: 60}, errors.New("cut"))
	total = addAttempt(total, nil, errors.New("cannot connect"))
	total = addAttempt(total, &engine.Result{Entries: 10, Transferred: 3, Bytes: 30, Verified: 3, SentBytes: 25, WireBytes: 40}, nil)
	want := &engine.Result{Entries: 10, Transferred: 5, Bytes: 50, Verified: 5, SentBytes: 70, WireBytes: 100}
	if !reflect.DeepEqual(total, want) {
		t.Errorf("run total\n%+v, want\n%+v", total, want)
	}
}
