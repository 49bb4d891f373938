package kube

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

const gib = 1 << 30

// A sender's report, read from its ConfigMap, gives the volume's status the bytes
// transferred: a 10 GiB file changed by 1 MiB, gone out as a delta and not yet verified,
// is a volume at its end, as its ETA says, although 1 MiB of data travelled.
func TestReportIntoVolumeStatus(t *testing.T) {
	sent := Report{FilesDone: 0, FilesNeeded: 1, BytesDone: 0, BytesNeeded: 10 * gib, BytesSent: 1 << 20,
		BytesTransferred: 10 * gib, WalkDone: true, Rate: gib, ETA: 0}
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(b, &fields)
	if fields["bytes_transferred"] != float64(10*gib) {
		t.Errorf("the report's JSON has bytes_transferred %v: %s", fields["bytes_transferred"], b)
	}
	rep, err := readReport(&corev1.ConfigMap{Data: map[string]string{reportKey: string(b)}})
	if err != nil || rep == nil {
		t.Fatalf("read the report: %v, %v", rep, err)
	}
	st := v1alpha1.VolumeProgress{Phase: v1alpha1.PhaseRunning, TotalBytes: 20 * gib} // the claim's size, before any report
	rep.applyTo(&st)
	want := v1alpha1.VolumeProgress{Phase: v1alpha1.PhaseRunning, Files: 0, TotalFiles: 1, Bytes: 0, TotalBytes: 10 * gib,
		SentBytes: 1 << 20, TransferredBytes: 10 * gib, RateBytesPerSecond: gib, ETASeconds: 0}
	if st != want {
		t.Errorf("status\n%+v, want\n%+v", st, want)
	}
	if got := BytesTransferred(st); got != 10*gib {
		t.Errorf("the volume is %d bytes along, want %d", got, 10*gib)
	}
}

func TestBytesTransferred(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    v1alpha1.VolumeProgress
		want int64
	}{
		{"transferred ahead of verified", v1alpha1.VolumeProgress{Bytes: 2, TransferredBytes: 7, SentBytes: 1}, 7},
		{"a status of a sender that reports no transferred bytes", v1alpha1.VolumeProgress{Bytes: 5, SentBytes: 1}, 5},
		{"nothing yet", v1alpha1.VolumeProgress{TotalBytes: 9}, 0},
	} {
		if got := BytesTransferred(tc.v); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestUnknownETAInVolumeStatus: a sender that cannot estimate yet reports an ETA of -1; the
// status, whose CRD admits no negative number, holds 0 with a rate of 0 (the API server
// refused the whole status update before).
func TestUnknownETAInVolumeStatus(t *testing.T) {
	rep := Report{FilesNeeded: 1, BytesNeeded: gib, WalkDone: true, Rate: 0, ETA: -1}
	var st v1alpha1.VolumeProgress
	rep.applyTo(&st)
	if st.ETASeconds != 0 || st.RateBytesPerSecond != 0 {
		t.Errorf("status ETA %d, rate %d; want 0 and 0", st.ETASeconds, st.RateBytesPerSecond)
	}
}
