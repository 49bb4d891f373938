package engine

import "sync/atomic"

// Progress holds live counters of a run; read them with Snapshot from any goroutine.
type Progress struct {
	filesSeen, bytesSeen   atomic.Int64 // walked so far (regular files)
	walkDone               atomic.Bool
	filesNeeded, bytesNeed atomic.Int64 // asked for by the receiver
	filesDone, bytesDone   atomic.Int64 // verified on the receiver
	bytesSent              atomic.Int64 // file data sent (literal bytes)
}

// Snapshot is a consistent-enough copy of the counters.
type Snapshot struct {
	FilesSeen, BytesSeen     int64
	WalkDone                 bool
	FilesNeeded, BytesNeeded int64
	FilesDone, BytesDone     int64
	BytesSent                int64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() Snapshot {
	return Snapshot{
		FilesSeen: p.filesSeen.Load(), BytesSeen: p.bytesSeen.Load(), WalkDone: p.walkDone.Load(),
		FilesNeeded: p.filesNeeded.Load(), BytesNeeded: p.bytesNeed.Load(),
		FilesDone: p.filesDone.Load(), BytesDone: p.bytesDone.Load(),
		BytesSent: p.bytesSent.Load(),
	}
}
