package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

// SendConfig describes one copy from a local directory to a receiver's volume.
type SendConfig struct {
	Source  string // local directory
	Volume  string // the receiver's volume name
	Subdir  string // optional directory inside the volume
	Options Options
	// Workers read files in parallel; default 4.
	Workers int
	// Progress, when set, is updated as the copy runs.
	Progress *Progress
	Log      *slog.Logger
	// Version is this program's version, sent in Hello.
	Version string
	// Streams is the number of connections to carry the session (default 1); the ones
	// after the first are opened with Dial and carry file data only.
	Streams int
	Dial    func(ctx context.Context) (io.ReadWriteCloser, error)
}

// Result is what a copy reports. Send returns one even when it fails: then it is partial,
// what the sender learnt before the failure (the files the receiver reported verified,
// the entries sent, the bytes that crossed the connections), so that a caller that
// resumes the copy in a new session can account for the whole run.
type Result struct {
	Entries     int64 // entries of the tree (partial: the entries sent)
	Transferred int64 // files whose data was sent
	Bytes       int64 // file bytes written on the receiver
	Verified    int64 // files checked against the sender's digest
	Deleted     int64
	Errors      []string // per-file failures; a run with errors is not complete
	Notices     []string
	WireBytes   int64 // protocol bytes sent and received, on every connection opened
	// SentBytes is the file data written to the connections: whole files, pieces, the
	// literal bytes of deltas (what Progress counts as BytesSent).
	SentBytes int64
	Streams   int // connections that carried the session
	Duration  time.Duration
}

// countingConn counts the bytes that really cross the connection (after compression).
type countingConn struct {
	io.ReadWriteCloser
	read, written atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// ErrIncomplete means the run ended but some files failed; Result.Errors says which.
var ErrIncomplete = errors.New("copy incomplete")

// Send copies cfg.Source to the receiver at the other end of conn. With cfg.Streams > 1 it
// opens more connections with cfg.Dial to carry file data. The error is ErrIncomplete when
// the receiver sent its summary and files failed. The Result is never nil: after any other
// error it is partial (see Result).
func Send(ctx context.Context, conn io.ReadWriteCloser, cfg *SendConfig) (res *Result, err error) {
	start := time.Now()
	s := newSender(cfg)
	defer s.closeStreams()
	defer func() {
		if res == nil {
			res = s.partial()
		}
		res.Duration = time.Since(start)
		res.Streams = len(s.streams)
		res.WireBytes = s.lostWire
		res.SentBytes = s.dataSent.Load()
		for _, st := range s.streams {
			res.WireBytes += st.counted.read.Load() + st.counted.written.Load()
		}
	}()
	root, err := scan.OpenRoot(cfg.Source)
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer root.Close()
	s.root = root
	stop := context.AfterFunc(ctx, s.closeConns)
	defer stop()
	if _, err := s.openStream(conn, roleControl); err != nil {
		return nil, err
	}
	for i := 1; i < cfg.Streams && cfg.Dial != nil; i++ {
		if err := s.addStream(ctx); err != nil {
			s.log.Warn("carrying data on fewer connections", "wanted", cfg.Streams, "have", len(s.streams), "error", err)
			break
		}
	}
	res, err = s.run(ctx)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, err
}

type sender struct {
	cfg     *SendConfig
	session []byte
	streams []*stream // the control stream first
	prog    *Progress
	log     *slog.Logger

	root *scan.Root

	mu      sync.Mutex
	acked   *sync.Cond        // signalled when the receiver decides entries
	entries map[uint64]*entry // sent, not yet decided by the receiver
	order   []uint64          // indices of entries, in the order sent
	jobs    *jobQueue
	errs    []string // per-file failures
	notices []string // what was left out on purpose (sockets)
	budget  *budget

	// What a run that ends without the receiver's summary reports (partial): entries
	// queued by the walk, and the files the receiver said it verified (FileDone), counted
	// by readLoop.
	entriesSent          atomic.Int64
	filesDone, bytesDone int64
	lostWire             int64        // bytes of extra connections whose handshake failed
	dataSent             atomic.Int64 // file data written, for Result.SentBytes
}

// stream is one connection of the session with its frame writer and outbox.
type stream struct {
	counted *countingConn
	r       *wire.Reader
	w       *wire.Writer
	out     *outbox
	closeZ  func()
}

func newSender(cfg *SendConfig) *sender {
	s := &sender{
		cfg: cfg, prog: cfg.Progress, log: cfg.Log,
		session: make([]byte, 16),
		entries: make(map[uint64]*entry),
		jobs:    newJobQueue(),
		budget:  newBudget(16 << 20),
	}
	s.acked = sync.NewCond(&s.mu)
	rand.Read(s.session)
	if s.prog == nil {
		s.prog = &Progress{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// ctl is the control stream.
func (s *sender) ctl() *stream { return s.streams[0] }

// openStream runs the handshake on conn and switches it to compression when asked.
func (s *sender) openStream(conn io.ReadWriteCloser, role uint8) (*stream, error) {
	st := &stream{counted: &countingConn{ReadWriteCloser: conn}, closeZ: func() {}}
	st.r = wire.NewReader(st.counted, 256<<10)
	st.w = wire.NewWriter(st.counted, 256<<10)
	s.streams = append(s.streams, st)
	if err := s.handshake(st, role); err != nil {
		return nil, err
	}
	if s.cfg.Options.Compress {
		zw, closeZ, err := compressWriter(st.counted)
		if err != nil {
			return nil, err
		}
		st.w, st.closeZ = wire.NewWriter(zw, 256<<10), closeZ
	}
	st.out = newOutbox(st.w)
	return st, nil
}

func (s *sender) addStream(ctx context.Context) error {
	conn, err := s.cfg.Dial(ctx)
	if err != nil {
		return err
	}
	if _, err := s.openStream(conn, roleData); err != nil {
		conn.Close()
		st := s.streams[len(s.streams)-1]
		s.lostWire += st.counted.read.Load() + st.counted.written.Load()
		s.streams = s.streams[:len(s.streams)-1]
		return err
	}
	return nil
}

func (s *sender) closeConns() {
	for _, st := range s.streams {
		st.counted.Close()
	}
}

func (s *sender) closeStreams() {
	for _, st := range s.streams {
		st.closeZ()
	}
	s.closeConns()
}

func (s *sender) handshake(st *stream, role uint8) error {
	h := &hello{Proto: ProtocolVersion, Version: s.cfg.Version, Volume: s.cfg.Volume, Subdir: s.cfg.Subdir,
		Options: s.cfg.Options, Session: s.session, Role: role}
	if err := st.w.WriteFrame(tHello, encode(h.encode)); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	if err := st.w.Flush(); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	t, p, err := st.r.ReadFrame()
	if err != nil && CertificateRefused(err) {
		return &RefusedError{Reason: fmt.Sprintf("this migration's client certificate (it ended TLS with %q): the certificates are from the wrong directory or of another migration", err),
			Err: certificateRefusal(err)}
	}
	if err != nil {
		return fmt.Errorf("read the receiver's answer: %w", err)
	}
	d := wire.NewDec(p)
	switch t {
	case tWelcome:
		var w welcome
		w.decode(d)
		if err := d.Done(); err != nil {
			return malformed(t, err)
		}
		if w.Proto != ProtocolVersion {
			return &RefusedError{Reason: fmt.Sprintf("receiver speaks protocol %d (ferry %s), this sender %d: use the same ferry version on both sides", w.Proto, w.Version, ProtocolVersion)}
		}
		return nil
	case tError:
		var m msgError
		m.decode(d)
		return &RefusedError{Reason: m.Message}
	}
	return &RefusedError{Reason: fmt.Sprintf("the receiver answered with message %d instead of welcome: is this a ferry receiver?", t)}
}

// RefusedError is a receiver that will not take this copy; retrying does not help. Err,
// when set, is the cause (ErrCertificateRefused around the TLS alert).
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return "receiver refused: " + e.Reason }

func (e *RefusedError) Unwrap() error { return e.Err }

// writeFailGrace is how long the reader may go on after a write failed, for the
// receiver's last frame (see writeLoop).
const writeFailGrace = 5 * time.Second

// run carries the session on the open streams: the walk sends the tree, data workers
// send the files the receiver asks for, a writer per stream writes what they queue, and
// the reader (readLoop, in this goroutine) takes the receiver's answers until its summary
// or the connection's end, which ends the run.
func (s *sender) run(ctx context.Context) (*Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The data workers' context ends with the run, and at the first failed write: what
	// they would read after it could not be sent.
	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	writers := s.startWriters(stopWork)
	wake := context.AfterFunc(ctx, func() { s.mu.Lock(); s.acked.Broadcast(); s.mu.Unlock() })
	defer wake()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.walk(ctx); err != nil {
			cancel(err)
			s.closeConns()
		}
	})
	s.startDataWorkers(work, &wg)

	res, err := s.readLoop()
	close(writers.readerDone)
	// The receiver has said its last word, or the connection failed: what is still queued
	// is not needed. Closing now, rather than after the queue was written, also ends the
	// receiver's wait for us to close (it reads until we do, so that its last frames
	// arrive; see Receiver's hangUp).
	s.closeConns()
	s.jobs.close()
	cancel(errDone)
	s.budget.close()
	wg.Wait()
	for _, st := range s.streams {
		st.out.close()
	}
	// Once the receiver has sent its summary, everything it needed has arrived.
	if werr := writers.wait(); err != nil && werr != nil {
		err = werr // the reader failed because the writers closed the connections
	}
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != errDone && !errors.Is(cause, context.Canceled) {
		err = cause // the walk failed first and closed the connection
	}
	if err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return res, fmt.Errorf("%w: %d of %d entries failed; the first: %s", ErrIncomplete, len(res.Errors), res.Entries, res.Errors[0])
	}
	return res, nil
}

// startDataWorkers starts cfg.Workers data workers (default 4), spread over the streams.
func (s *sender) startDataWorkers(ctx context.Context, wg *sync.WaitGroup) {
	workers := s.cfg.Workers
	if workers <= 0 {
		workers = 4
	}
	for i := range workers {
		out := s.streams[i%len(s.streams)].out
		wg.Go(func() { s.dataWorker(ctx, out) })
	}
}

// writers are the goroutines that write the streams' outboxes, one writeLoop each, and
// what run learns from them once the reader has ended.
type writers struct {
	results    chan error    // each writer's write error (nil when none), as it returns
	readerDone chan struct{} // closed by run once the reader has ended
	stopWork   func()        // stops the data workers, at the first failed write
	failOnce   sync.Once
	firstErr   error       // the first write error of any stream
	gaveUp     atomic.Bool // a writer closed the connections after writeFailGrace
}

// startWriters starts a writeLoop for each stream; the first write that fails calls
// stopWork.
func (s *sender) startWriters(stopWork func()) *writers {
	w := &writers{results: make(chan error, len(s.streams)), readerDone: make(chan struct{}), stopWork: stopWork}
	for _, st := range s.streams {
		go s.writeLoop(st, w)
	}
	return w
}

// writeLoop writes st's outbox until it is closed and written, or until a write fails.
//
// A failed write does not end the session by itself: the receiver may have ended it first
// and said why (its summary, after a file failed while we were still sending it; an
// error), and the reader is to get that rather than take the failure for a lost
// connection. The reader ends on that frame or on the connection's end; only if neither
// comes within writeFailGrace does writeLoop close the connections, to stop it. Meanwhile
// the reader goes on, but the data workers stop: a session whose write failed cannot
// complete, and the files they would read, at the speed of the disk now that the data
// budget is closed (no worker is to wait for room a failed writer will never make), could
// not be sent.
func (s *sender) writeLoop(st *stream, w *writers) {
	err := st.out.run(s.written)
	if err != nil {
		w.failOnce.Do(func() { w.firstErr = err })
		w.stopWork()
		s.budget.close()
		select {
		case <-w.readerDone:
		case <-time.After(writeFailGrace):
			w.gaveUp.Store(true)
			s.closeConns()
		}
	}
	w.results <- err
}

// written accounts for a frame its writer wrote: file data counts once written, not when
// queued, and gives its room in the data budget back.
func (s *sender) written(f frame) {
	s.prog.wrote(f)
	s.dataSent.Add(f.data.sent)
	if f.t == tData || f.t == tDelta {
		s.budget.release(len(f.payload))
	}
	if f.t == tData {
		putChunk(f.payload)
	}
}

// wait waits for every writer to return (run closes the outboxes first). Its error says
// that the writers gave up on the reader after a failed write: the reader's own error is
// then only the connection they closed.
func (w *writers) wait() error {
	for range cap(w.results) {
		<-w.results
	}
	if w.gaveUp.Load() {
		return fmt.Errorf("write to receiver: %w (and no answer from the receiver within %v)", w.firstErr, writeFailGrace)
	}
	return nil
}

var errDone = errors.New("done")

// walk streams entries to the receiver in batches.
func (s *sender) walk(ctx context.Context) error {
	var (
		e     wire.Enc
		first uint64
		count uint64
		index uint64
	)
	flush := func() {
		if count == 0 {
			return
		}
		var hdr wire.Enc
		hdr.Uvarint(first)
		hdr.Uvarint(count)
		s.ctl().out.send(tEntries, append(hdr.B, e.B...))
		s.entriesSent.Store(int64(first + count))
		e.B, count = nil, 0
	}
	opts := scan.Options{Security: s.cfg.Options.Security, NoXattrs: s.cfg.Options.NoXattrs, Exclude: excludeLostFound}
	var left leftOut
	err := scan.Walk(ctx, s.cfg.Source, opts, func(se *scan.Entry) error {
		if se.Kind == scan.KindSocket {
			s.notice(fmt.Sprintf("%s: a socket, skipped (sockets cannot be copied)", quote(se.Path)))
			return nil
		}
		left.add(se)
		x := &entry{Entry: *se}
		if x.Kind == scan.KindFile && s.cfg.Options.Checksum && x.HardLink == "" {
			d, err := digestFile(s.root, x.Path)
			if err != nil {
				s.fileError(x.Path, err)
				return nil
			}
			x.Digest = d
		}
		if x.Kind == scan.KindFile && x.HardLink == "" {
			if s.full() {
				flush() // the receiver can only decide what it has
			}
			if err := s.remember(ctx, index, x); err != nil {
				return err
			}
			s.prog.filesSeen.Add(1)
			s.prog.bytesSeen.Add(x.Size)
		}
		if count == 0 {
			first = index
		}
		encodeEntry(&e, x)
		index++
		count++
		if count >= 512 || len(e.B) >= 128<<10 {
			flush()
		}
		return nil
	}, func(path string, err error) error {
		s.fileError(path, err)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", s.cfg.Source, err)
	}
	flush()
	for _, n := range left.notices(s.cfg.Options) {
		s.notice(n)
	}
	s.ctl().out.send(tEnd, encode(func(e *wire.Enc) { e.Uvarint(index) }))
	s.prog.walkDone.Store(true)
	return nil
}

// excludeLostFound leaves out the root's lost+found, as MTC does.
func excludeLostFound(path string, kind scan.Kind) bool {
	return path == "lost+found" && kind == scan.KindDir
}

func (s *sender) notice(msg string) {
	s.log.Info(msg)
	s.mu.Lock()
	s.notices = append(s.notices, msg)
	s.mu.Unlock()
}

func (s *sender) fileError(path string, err error) {
	s.log.Warn("file failed", "path", path, "error", err)
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf("%s: %v", quote(path), err))
	s.mu.Unlock()
}

// readLoop handles the receiver's messages until its summary.
func (s *sender) readLoop() (*Result, error) {
	for {
		t, p, err := s.ctl().r.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("read from receiver: %w", err)
		}
		d := wire.NewDec(p)
		switch t {
		case tNeed:
			decodeList(d, maxBatch, func(d *wire.Dec) {
				var n need
				decodeNeed(d, &n)
				if d.Err() == nil {
					s.need(&n, d)
				}
			})
		case tAck:
			s.ack(d.Uvarint())
		case tFileDone:
			decodeList(d, maxBatch, func(d *wire.Dec) {
				d.Uvarint()
				n := d.Varint()
				s.filesDone++
				s.bytesDone += n
				s.prog.filesDone.Add(1)
				s.prog.bytesDone.Add(n)
			})
		case tFileError:
			var m msgError
			m.decode(d)
			s.mu.Lock()
			s.errs = append(s.errs, m.Message)
			s.mu.Unlock()
		case tSummary:
			var m summary
			m.decode(d)
			if err := d.Done(); err != nil {
				return nil, malformed(t, err)
			}
			return s.result(&m), nil
		case tError:
			var m msgError
			m.decode(d)
			return nil, fmt.Errorf("receiver failed: %s", m.Message)
		default:
			return nil, fmt.Errorf("unexpected message %d from receiver", t)
		}
		if err := d.Done(); err != nil {
			return nil, malformed(t, err)
		}
	}
}

// partial is the Result of a run that ended without the receiver's summary.
func (s *sender) partial() *Result {
	res := &Result{Entries: s.entriesSent.Load(), Transferred: s.filesDone, Bytes: s.bytesDone, Verified: s.filesDone}
	s.mu.Lock()
	defer s.mu.Unlock()
	res.Notices = append(res.Notices, s.notices...)
	res.Errors = append(res.Errors, s.errs...)
	return res
}

func (s *sender) result(m *summary) *Result {
	res := &Result{Entries: int64(m.Entries), Transferred: int64(m.Transferred), Bytes: int64(m.Bytes),
		Verified: int64(m.Verified), Deleted: int64(m.Deleted), Notices: m.Notices}
	s.mu.Lock()
	defer s.mu.Unlock()
	res.Notices = append(res.Notices, s.notices...)
	res.Errors = append(res.Errors, s.errs...)
	return res
}

func (s *sender) need(n *need, d *wire.Dec) {
	s.mu.Lock()
	x, ok := s.entries[n.Index]
	delete(s.entries, n.Index)
	s.mu.Unlock()
	if !ok {
		d.Fail(fmt.Sprintf("need for entry %d, which is not a pending file", n.Index))
		return
	}
	s.prog.filesNeeded.Add(1)
	s.prog.bytesNeed.Add(x.Size)
	s.jobs.push(&job{entry: x, need: *n})
}

// maxUndecided bounds the files sent and not yet decided by the receiver: the walk waits
// beyond it, so memory stays flat however large the tree. (A variable for tests.)
var maxUndecided = 16384

func (s *sender) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order) >= maxUndecided
}

// remember keeps a file entry until the receiver decides on it, waiting while too many are
// undecided.
func (s *sender) remember(ctx context.Context, index uint64, x *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) >= maxUndecided && ctx.Err() == nil {
		s.acked.Wait()
	}
	s.entries[index] = x
	s.order = append(s.order, index)
	return ctx.Err()
}

// ack forgets the entries up to index that were not needed.
func (s *sender) ack(upto uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for ; i < len(s.order) && s.order[i] <= upto; i++ {
		delete(s.entries, s.order[i])
	}
	s.order = s.order[i:]
	s.acked.Broadcast()
}
