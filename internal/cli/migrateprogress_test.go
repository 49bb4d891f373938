package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

const gib = 1 << 30

// deltaOfBigFile is a volume whose one 10 GiB file changed by 1 MiB: its sender sends the
// change as a delta, so little data travels while most of the file goes out as blocks the
// target reuses. transferred is how much of the file has gone out.
func deltaOfBigFile(transferred, sent, eta int64) v1alpha1.VolumeProgress {
	return v1alpha1.VolumeProgress{PVCRef: v1alpha1.PVCReference{Namespace: "shop", Name: "db"}, Phase: v1alpha1.PhaseRunning,
		Files: 0, TotalFiles: 1, Bytes: 0, TotalBytes: 10 * gib, SentBytes: sent, TransferredBytes: transferred,
		RateBytesPerSecond: gib, ETASeconds: eta}
}

// The bar, the log line and the totals of ferry migrate show the bytes the rate and the ETA
// are measured on: with a delta, they are near the end when the ETA is, not near 0 until
// the file is verified.
func TestMigrateProgressFollowsBytesTransferred(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    v1alpha1.VolumeProgress
		done int64
		log  string
	}{
		{"half way", deltaOfBigFile(5*gib, 512<<10, 5), 5 * gib,
			`bytes="5.0 GiB/10.0 GiB" verified="0 B" sent="512.0 KiB" rate="1.0 GiB/s" eta=5s`},
		{"gone out, not yet verified", deltaOfBigFile(10*gib, 1<<20, 0), 10 * gib,
			`bytes="10.0 GiB/10.0 GiB" verified="0 B" sent="1.0 MiB" rate="1.0 GiB/s" eta=0s`},
		{"a status without transferredBytes", v1alpha1.VolumeProgress{Phase: v1alpha1.PhaseRunning, TotalFiles: 1, Bytes: 3 * gib, TotalBytes: 10 * gib, SentBytes: 1 << 20, ETASeconds: -1}, 3 * gib,
			`bytes="3.0 GiB/10.0 GiB" verified="3.0 GiB" sent="1.0 MiB"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := volumeBytesDone(tc.v); got != tc.done {
				t.Errorf("the bar is at %d, want %d", got, tc.done)
			}
			g, _, errs := globals()
			r := newMigrateReporter(false, g) // not a terminal: log lines
			r.Progress([]v1alpha1.VolumeProgress{tc.v})
			lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("log:\n%s\nwant a line for the volume and one for the total", errs)
			}
			if !strings.Contains(lines[0], tc.log) {
				t.Errorf("volume line\n%s\nwant\n%s", lines[0], tc.log)
			}
			total := "volume=total files=0/1 bytes=\"" + humanBytes(tc.done) + "/10.0 GiB\""
			if !strings.Contains(lines[1], total) {
				t.Errorf("total line\n%s\nwant\n%s", lines[1], total)
			}
		})
	}
}

// The JSON events of ferry migrate -o json carry the bytes transferred, per volume and in
// the total.
func TestMigrateJSONProgressTotalTransferred(t *testing.T) {
	g, out, _ := globals()
	r := newMigrateReporter(true, g)
	r.Progress([]v1alpha1.VolumeProgress{deltaOfBigFile(6*gib, 1<<20, 4), deltaOfBigFile(2*gib, 1<<20, 8)})
	var ev struct {
		Volumes []v1alpha1.VolumeProgress
		Total   v1alpha1.VolumeProgress
	}
	if err := json.Unmarshal([]byte(out.String()), &ev); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if len(ev.Volumes) != 2 || ev.Volumes[0].TransferredBytes != 6*gib {
		t.Errorf("volumes %+v", ev.Volumes)
	}
	if ev.Total.TransferredBytes != 8*gib || ev.Total.SentBytes != 2<<20 || ev.Total.TotalBytes != 20*gib {
		t.Errorf("total %+v: want 8 GiB transferred, 2 MiB sent, of 20 GiB", ev.Total)
	}
}
