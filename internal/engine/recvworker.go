package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/delta"
)

// workItem is one thing for a worker to do with a task.
type workItem struct {
	task    *fileTask
	prepare bool   // compute the request (signature, resume prefix, checksum)
	piece   *piece // write data
	ops     []deltaOp
	abort   string // the sender could not read the file
}

// writeState is a worker's handle on a file being written.
type writeState struct {
	f       *os.File // the temporary file
	old     *os.File // the current file, for deltas
	sig     *delta.Signature
	patcher *delta.Patcher
	h       *blake3.Hasher
	pos     int64 // logical position: data and holes so far
	end     int64 // end of the last data written to the file
	started bool
	failed  bool // an error was reported: later items for the file are dropped
	resumed bool // the file was opened with earlier content, which may be longer
	anon    bool // f has no name until finish links it into place
}

type worker struct {
	s   *session
	ctx context.Context
}

func (w *worker) run(items <-chan workItem) {
	open := make(map[*fileTask]bool)
	defer func() {
		for t := range open { // cut off: keep partial files for the next run
			t.ws.close()
		}
	}()
	for it := range items {
		t := it.task
		if t.ws.failed {
			continue // the rest of a file that failed here: already reported
		}
		c := completion{task: t, last: true}
		switch {
		case it.prepare:
			c.prepared = true
			c.same, c.err = w.prepare(t)
			open[t] = t.ws.f != nil || t.ws.old != nil
		case it.abort != "":
			t.ws.discard(t)
			c.err = &abortError{it.abort}
		case it.ops != nil:
			open[t] = true
			if c.err = w.applyOps(t, it.ops); c.err == nil {
				continue
			}
			t.ws.discard(t)
			c.last = false
		default:
			open[t] = true
			var final bool
			final, c.err = w.write(t, it.piece)
			if c.err == nil && !final {
				continue
			}
			if c.err != nil {
				t.ws.discard(t)
				c.last = it.piece.Final
			}
			c.bytes = t.x.Size
		}
		if c.err != nil {
			t.ws.failed = true
		}
		if !c.prepared || c.err != nil || c.same {
			delete(open, t)
		}
		select {
		case w.s.done <- c:
		case <-w.ctx.Done():
			return
		}
	}
}

// prepare computes what the request needs: a signature of the current file, the digest of
// a partial file, or (--checksum) whether the content is already equal.
func (w *worker) prepare(t *fileTask) (same bool, err error) {
	dirfd := t.dir.fd
	if t.check {
		d, err := digestAt(dirfd, t.name)
		if err != nil {
			return false, err
		}
		if bytes.Equal(d, t.x.Digest) {
			return true, nil
		}
		t.how = needWhole
		if t.x.Size >= deltaMin {
			t.how = needDelta
		}
	}
	switch t.how {
	case needDelta:
		f, err := openAt(dirfd, t.name, unix.O_RDONLY)
		if err != nil {
			return false, err
		}
		fi, err := f.Stat()
		if err == nil {
			t.ws.sig, err = delta.Sign(w.ctx, f, fi.Size(), delta.BlockSize(fi.Size()))
		}
		if err == nil {
			t.sig, err = t.ws.sig.MarshalBinary()
		}
		if err != nil {
			f.Close()
			return false, fmt.Errorf("sign the current copy: %w", err)
		}
		t.ws.old = f
	case needResume:
		f, err := openAt(dirfd, tempName(t.name), unix.O_RDWR)
		if err != nil {
			return false, err
		}
		h := newHasher()
		n, err := io.Copy(h, f)
		if err != nil {
			f.Close()
			hashers.Put(h)
			return false, fmt.Errorf("read the partial copy: %w", err)
		}
		t.ws.f, t.ws.h, t.ws.pos, t.ws.end, t.ws.resumed = f, h, n, n, true
		t.prefixLen, t.prefixHash = n, h.Sum(nil)
	}
	return false, nil
}

func openAt(dirfd int, name string, flags int) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", quote(name), err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func digestAt(dirfd int, name string) ([]byte, error) {
	f, err := openAt(dirfd, name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := newHasher()
	defer hashers.Put(h)
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read for --checksum: %w", err)
	}
	return h.Sum(nil), nil
}

// create opens a new temporary file for t: an anonymous one (see anon.go) for a small new
// file in a clean directory where they work, a named one otherwise.
func (ws *writeState) create(t *fileTask, s *session) error {
	clean := t.dir.clean()
	mode, _ := createMode(t.x, s.opts, clean)
	ws.anon = false
	if clean && t.how == needWhole && t.x.Size <= smallFile && s.anon.usable(t.dir.fd) {
		if fd, err := openAnonymous(t.dir.fd, mode); err == nil {
			ws.f, ws.anon = os.NewFile(uintptr(fd), t.name), true
		}
	}
	if !ws.anon {
		fd, err := unix.Openat(t.dir.fd, tempName(t.name), unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		if err != nil {
			return fmt.Errorf("create temporary file: %w", err)
		}
		ws.f = os.NewFile(uintptr(fd), tempName(t.name))
	}
	ws.h, ws.pos, ws.end = newHasher(), 0, 0
	return nil
}

// write applies one piece; it reports whether the file is complete (verified and renamed).
func (w *worker) write(t *fileTask, p *piece) (bool, error) {
	ws := &t.ws
	if !ws.started {
		ws.started = true
		if ws.f != nil && p.Offset == 0 { // the sender refused our partial copy
			ws.close()
		}
		if ws.f == nil {
			if err := ws.create(t, w.s); err != nil {
				return false, err
			}
		}
	}
	if p.Offset < ws.pos {
		return false, fmt.Errorf("sender sent data at %d after %d", p.Offset, ws.pos)
	}
	if p.Offset+int64(len(p.Data)) > t.x.Size {
		return false, fmt.Errorf("sender sent data past the announced size %d", t.x.Size)
	}
	ws.hashZeros(p.Offset - ws.pos)
	if len(p.Data) > 0 {
		if _, err := ws.f.WriteAt(p.Data, p.Offset); err != nil {
			return false, writeError(err)
		}
		ws.h.Write(p.Data)
		ws.end = p.Offset + int64(len(p.Data))
	}
	ws.pos = p.Offset + int64(len(p.Data))
	if !p.Final {
		return false, nil
	}
	return true, w.finish(t, p.Digest)
}

func (ws *writeState) hashZeros(n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		ws.h.Write(zeros[:k])
		n -= k
	}
}

// finish verifies the digest, applies the metadata and renames the file into place.
func (w *worker) finish(t *fileTask, digest []byte) error {
	ws := &t.ws
	ws.hashZeros(t.x.Size - ws.pos)
	if ws.end != t.x.Size || ws.resumed { // holes at the end, or a longer partial file
		if err := ws.f.Truncate(t.x.Size); err != nil {
			return fmt.Errorf("set size: %w", err)
		}
	}
	if got := ws.h.Sum(nil); !bytes.Equal(got, digest) {
		return fmt.Errorf("verification failed: the content written does not match the sender's digest")
	}
	tmp, fd := tempName(t.name), int(ws.f.Fd())
	if err := applyMetaIn(t.dir.fd, tmp, fd, t.x, w.s.opts, t.dir.clean()); err != nil {
		return err
	}
	if ws.anon {
		if err := linkAnonymous(fd, t.dir.fd, t.name); err != nil {
			return err
		}
	} else if err := unix.Renameat(t.dir.fd, tmp, t.dir.fd, t.name); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	ws.close()
	return nil
}

// applyOps rebuilds the file from the current copy and the sender's delta.
func (w *worker) applyOps(t *fileTask, ops []deltaOp) error {
	ws := &t.ws
	if ws.patcher == nil {
		if ws.old == nil || ws.sig == nil {
			return errors.New("delta without a signature")
		}
		if err := ws.create(t, w.s); err != nil {
			return err
		}
		ws.started = true
		ws.patcher = delta.NewPatcher(ws.old, ws.sig, &hashingWriter{ws: ws, sparse: t.x.Sparse})
	}
	for _, op := range ops {
		if err := ws.patcher.Apply(delta.Op{Block: op.block, Count: op.count, Literal: op.literal}); err != nil {
			return fmt.Errorf("apply delta: %w", err)
		}
		if ws.pos > t.x.Size {
			return fmt.Errorf("delta grows the file past the announced size %d", t.x.Size)
		}
	}
	return nil
}

// hashingWriter appends to the temporary file and feeds the digest. For a sparse source it
// leaves every all-zero block a hole, as the sender's data extents do for a whole copy: a delta
// only says what the bytes are, not where the source has holes.
type hashingWriter struct {
	ws     *writeState
	sparse bool
}

func (h *hashingWriter) Write(b []byte) (int, error) {
	ws := h.ws
	var n int
	var end int64
	var err error
	if h.sparse {
		n, end, err = writeSparse(ws.f, b, ws.pos)
	} else {
		n, err = ws.f.WriteAt(b, ws.pos)
		end = ws.pos + int64(n)
	}
	ws.h.Write(b[:n])
	ws.pos += int64(n)
	ws.end = max(ws.end, end) // a hole at the end: finish sets the size
	if err != nil {
		return n, writeError(err)
	}
	return n, nil
}

// holeBlock is the unit writeSparse leaves unwritten when it holds only zeros.
const holeBlock = 4096

// writeSparse writes b at off in f except for the all-zero holeBlock-aligned blocks, which
// it skips (the file is new: what is not written reads as zeros); runs of blocks with data
// are written at once. It returns how much of b it handled and where the data written ends
// (0 if it wrote nothing).
func writeSparse(f *os.File, b []byte, off int64) (n int, end int64, err error) {
	run := -1 // start in b of blocks with data not yet written
	flush := func(to int) error {
		if run < 0 {
			return nil
		}
		if _, err := f.WriteAt(b[run:to], off+int64(run)); err != nil {
			return err
		}
		end, run = off+int64(to), -1
		return nil
	}
	for i := 0; i < len(b); {
		next := min(len(b), i+int(holeBlock-(off+int64(i))%holeBlock))
		if !isZero(b[i:next]) {
			if run < 0 {
				run = i
			}
		} else if err := flush(i); err != nil {
			return run, end, err
		}
		i = next
	}
	if err := flush(len(b)); err != nil {
		return run, end, err
	}
	return len(b), end, nil
}

func isZero(b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), len(zeros))
		if !bytes.Equal(b[:k], zeros[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

// close releases the handles and keeps the temporary file (for resume).
func (ws *writeState) close() {
	if ws.h != nil {
		hashers.Put(ws.h)
		ws.h = nil
	}
	if ws.f != nil {
		ws.f.Close()
		ws.f = nil
	}
	if ws.old != nil {
		ws.old.Close()
		ws.old = nil
	}
	ws.patcher = nil
}

// hashers keeps BLAKE3 hashers (about 10 KiB each) for reuse: a receiver of many small
// files would otherwise allocate one per file.
var hashers = sync.Pool{New: func() any { return blake3.New() }}

func newHasher() *blake3.Hasher {
	h := hashers.Get().(*blake3.Hasher)
	h.Reset()
	return h
}

// discard releases the handles and removes the temporary file.
func (ws *writeState) discard(t *fileTask) {
	ws.close()
	unix.Unlinkat(t.dir.fd, tempName(t.name), 0)
}

// abortError is a file the sender failed to read; the sender has reported it already.
type abortError struct{ msg string }

func (e *abortError) Error() string { return e.msg }

// writeError explains a failed write; a full volume is the common case.
func writeError(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("write: the target volume is full (%v): give it more space and run again; files already there were not changed", err)
	}
	return fmt.Errorf("write: %w", err)
}
