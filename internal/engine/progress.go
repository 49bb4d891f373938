package engine

import "sync/atomic"

// Progress holds live counters of a run; read them with Snapshot from any goroutine.
//
// File data is counted when the frame carrying it has been written to the connection
// (handed to the stream's writer, which keeps at most its buffer of it), not when it is
// queued: the sender queues up to its data budget (16 MiB) ahead of a slow link, and
// counting there made a large file look sent long before it was.
type Progress struct {
	filesSeen, bytesSeen   atomic.Int64 // walked so far (regular files)
	walkDone               atomic.Bool
	filesNeeded, bytesNeed atomic.Int64 // asked for by the receiver
	filesDone, bytesDone   atomic.Int64 // verified on the receiver
	bytesSent              atomic.Int64 // file data written (literal bytes)
	bytesTransferred       atomic.Int64 // bytes of needed files accounted for by written frames
}

// Snapshot is a consistent-enough copy of the counters.
type Snapshot struct {
	FilesSeen, BytesSeen int64 // regular files walked so far, and their sizes
	WalkDone             bool  // the walk has ended: FilesSeen and BytesSeen are final
	// FilesNeeded and BytesNeeded are the files the receiver asked for and their sizes.
	FilesNeeded, BytesNeeded int64
	// FilesDone and BytesDone are the files verified on the receiver (whole files: a large
	// file counts only once its last byte arrived and its digest matched).
	FilesDone, BytesDone int64
	// BytesSent is the file data written to the connection: whole files and pieces, the
	// literal bytes of deltas. It is what travelled, and less than BytesTransferred when
	// the receiver reused blocks of its copy.
	BytesSent int64
	// BytesTransferred is how much of BytesNeeded has gone out: the data written, plus what
	// the frames written let the receiver take from its own copy (the blocks a delta
	// reuses, the part of a cut file it kept) and the holes of sparse files. It rises as
	// frames are written and equals BytesNeeded once every needed file has gone out, before
	// the receiver has verified them (BytesDone). Displays show it as the bytes done and
	// derive rate and ETA from it.
	BytesTransferred int64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() Snapshot {
	return Snapshot{
		FilesSeen: p.filesSeen.Load(), BytesSeen: p.bytesSeen.Load(), WalkDone: p.walkDone.Load(),
		FilesNeeded: p.filesNeeded.Load(), BytesNeeded: p.bytesNeed.Load(),
		FilesDone: p.filesDone.Load(), BytesDone: p.bytesDone.Load(),
		BytesSent: p.bytesSent.Load(), BytesTransferred: p.bytesTransferred.Load(),
	}
}

// carried is the file data in one frame, counted by Progress once the frame is written.
type carried struct {
	sent        int64 // data bytes in the frame
	transferred int64 // bytes of the file the frame accounts for (see Snapshot.BytesTransferred)
}

// wrote counts a frame that was written to the connection.
func (p *Progress) wrote(f frame) {
	if f.data.sent != 0 {
		p.bytesSent.Add(f.data.sent)
	}
	if f.data.transferred != 0 {
		p.bytesTransferred.Add(f.data.transferred)
	}
}
