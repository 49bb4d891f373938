package controller

import (
	"testing"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// The DVM's transferredBytes and progress follow the bytes that have gone out, as the bars
// of ferry migrate and the senders' ETAs do: a 100-byte volume whose data has all gone
// out as a delta is at 100% before its files are verified. A volume that reports no
// transferred bytes counts its verified bytes.
func TestStatusProgressFollowsBytesTransferred(t *testing.T) {
	var st v1alpha1.DirectVolumeMigrationStatus
	applyState(&st, runState{Phase: v1alpha1.PhaseRunning, Volumes: []v1alpha1.VolumeProgress{
		{PVCRef: v1alpha1.PVCReference{Namespace: "shop", Name: "db"}, Bytes: 0, SentBytes: 1, TransferredBytes: 100, TotalBytes: 100},
		{PVCRef: v1alpha1.PVCReference{Namespace: "shop", Name: "uploads"}, Bytes: 20, TotalBytes: 100},
	}})
	if st.TransferredBytes != 120 || st.TotalBytes != 200 || st.Progress != "60%" {
		t.Errorf("status: transferredBytes %d of totalBytes %d, progress %q; want 120 of 200, 60%%", st.TransferredBytes, st.TotalBytes, st.Progress)
	}
}
