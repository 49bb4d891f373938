package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/wire"
)

// Receiver serves named volumes to senders.
type Receiver struct {
	Volumes map[string]string // name -> directory
	Log     *slog.Logger
	// Workers write files in parallel; default 4.
	Workers int
	Version string

	mu       sync.Mutex
	active   map[string]*activeSession // by volume
	sessions map[string]*session       // by session id, for data connections to join
	joined   *sync.Cond                // signalled when a session registers
}

// activeSession is the session that owns a volume. A new session for the same volume (a
// sender reconnecting after a cut) takes over: the old one is cancelled and waited for, so
// two sessions never write one tree at once and the new one finds the partial files.
type activeSession struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// claim makes the caller the owner of volume, ending a previous owner first.
func (rc *Receiver) claim(ctx context.Context, volume string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	me := &activeSession{cancel: cancel, done: make(chan struct{})}
	for {
		rc.mu.Lock()
		if rc.active == nil {
			rc.active = make(map[string]*activeSession)
		}
		prev := rc.active[volume]
		if prev == nil {
			rc.active[volume] = me
			rc.mu.Unlock()
			break
		}
		rc.mu.Unlock()
		prev.cancel()
		<-prev.done
	}
	return ctx, func() {
		cancel()
		rc.mu.Lock()
		if rc.active[volume] == me {
			delete(rc.active, volume)
		}
		rc.mu.Unlock()
		close(me.done)
	}
}

// Handle runs one sender's session on conn and closes it.
func (rc *Receiver) Handle(ctx context.Context, conn io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r := wire.NewReader(conn, 256<<10)
	w := wire.NewWriter(conn, 256<<10)
	h, rootfd, err := rc.accept(r, w)
	if errors.Is(err, errProbe) {
		return nil
	}
	if err != nil {
		return err
	}
	if h.Role == roleData {
		return rc.join(ctx, h, conn, r, w)
	}
	defer unix.Close(rootfd)
	ctx, release := rc.claim(ctx, h.Volume)
	defer release()
	stopConn := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopConn()
	r, closeZ, err := frameReader(r, h.Options.Compress)
	if err != nil {
		return err
	}
	defer closeZ()
	s := newSession(rc, h, rootfd, r, w)
	rc.register(string(h.Session), s)
	defer rc.unregister(string(h.Session), s)
	err = s.run(ctx)
	hangUp(ctx, conn, s.readDone)
	return err
}

// lingerTime bounds how long hangUp keeps a connection open for the sender to close it.
// A sender closes as soon as it has read the summary: one trip across the path. (A
// variable for tests.)
var lingerTime = 5 * time.Second

// hangUp ends a connection of a session that is over, so that the last frames we sent
// (the summary, or the error that ended the session) reach the sender.
//
// Closing a socket while data the peer sent is still unread makes the kernel answer with a
// reset instead of an orderly close, and drop what it had not sent yet; a proxy relaying
// the connection may drop what it holds too. That is the normal case at the end of a
// session: when a file fails (a full volume), the session can end while the sender is
// still streaming that file's data, and it would see a lost connection (and resume, in
// vain) instead of the summary that says what failed. So we half-close (CloseWrite: a FIN,
// or TLS's close_notify), and readLoop goes on reading and dropping whatever the sender
// still sends, until the sender closes its end (readerDone), which it does once it has read
// our last frame. lingerTime bounds the wait for a sender that does not; a cancelled
// session (a newer session took the volume over, the receiver is stopping) does not wait.
//
// Connections that cannot be half-closed are not sockets (net.Pipe and the like): a write
// there returns only once the peer has read it, so closing at once loses nothing.
//
// hangUp then closes conn and waits for its reader to return, so that the reader stops
// before the decompressor it may read from is closed.
func hangUp(ctx context.Context, conn io.ReadWriteCloser, readerDone <-chan struct{}) {
	defer func() { conn.Close(); <-readerDone }()
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || ctx.Err() != nil {
		return
	}
	if err := cw.CloseWrite(); err != nil {
		return // the connection is already gone
	}
	linger := time.NewTimer(lingerTime)
	defer linger.Stop()
	select {
	case <-readerDone:
	case <-linger.C:
	case <-ctx.Done():
	}
}

// frameReader switches the rest of a connection to decompression when the sender asked for it.
func frameReader(r *wire.Reader, compressed bool) (*wire.Reader, func(), error) {
	if !compressed {
		return r, func() {}, nil
	}
	zr, closeZ, err := decompressReader(r.Rest())
	if err != nil {
		return nil, nil, err
	}
	return wire.NewReader(zr, 256<<10), closeZ, nil
}

func (rc *Receiver) register(id string, s *session) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.sessions == nil {
		rc.sessions = make(map[string]*session)
	}
	if rc.joined == nil {
		rc.joined = sync.NewCond(&rc.mu)
	}
	rc.sessions[id] = s
	rc.joined.Broadcast()
}

func (rc *Receiver) unregister(id string, s *session) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.sessions[id] == s {
		delete(rc.sessions, id)
	}
}

// join attaches a data connection to its session, which may still be starting (waiting
// for the volume); it refuses after a while.
func (rc *Receiver) join(ctx context.Context, h *hello, conn io.ReadWriteCloser, r *wire.Reader, w *wire.Writer) error {
	id := string(h.Session)
	deadline := time.Now().Add(30 * time.Second)
	rc.mu.Lock()
	if rc.joined == nil {
		rc.joined = sync.NewCond(&rc.mu)
	}
	wake := time.AfterFunc(time.Until(deadline), func() { rc.mu.Lock(); rc.joined.Broadcast(); rc.mu.Unlock() })
	defer wake.Stop()
	for rc.sessions[id] == nil && time.Now().Before(deadline) && ctx.Err() == nil {
		rc.joined.Wait()
	}
	s := rc.sessions[id]
	rc.mu.Unlock()
	if s == nil {
		m := &msgError{Message: "no session with this id: the control connection is gone"}
		w.WriteFrame(tError, encode(m.encode))
		w.Flush()
		return errors.New("data connection for an unknown session")
	}
	wm := &welcome{Proto: ProtocolVersion, Version: rc.Version}
	if err := w.WriteFrame(tWelcome, encode(wm.encode)); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	r, closeZ, err := frameReader(r, h.Options.Compress)
	if err != nil {
		return err
	}
	defer closeZ()
	s.attach(ctx, conn, r)
	return nil
}

// accept reads Hello, opens the volume and answers Welcome or Error.
func (rc *Receiver) accept(r *wire.Reader, w *wire.Writer) (*hello, int, error) {
	refuse := func(err error) (*hello, int, error) {
		m := &msgError{Message: err.Error()}
		w.WriteFrame(tError, encode(m.encode))
		w.Flush()
		return nil, -1, err
	}
	t, p, err := r.ReadFrame()
	if err != nil {
		return nil, -1, fmt.Errorf("read hello: %w", err)
	}
	if t != tHello {
		return refuse(fmt.Errorf("expected hello, got message %d", t))
	}
	var h hello
	d := wire.NewDec(p)
	h.decode(d)
	if err := d.Done(); err != nil {
		return refuse(malformed(t, err))
	}
	if h.Volume == "" { // a probe: say who we are and end, or count a throughput sample
		wm := &welcome{Proto: ProtocolVersion, Version: rc.Version}
		w.WriteFrame(tWelcome, encode(wm.encode))
		w.Flush()
		if h.Role == roleMeasure {
			n, _ := io.Copy(io.Discard, io.LimitReader(r.Rest(), measureLimit))
			w.WriteFrame(tSummary, encode(func(e *wire.Enc) { e.Uvarint(uint64(n)) }))
			w.Flush()
		}
		return nil, -1, errProbe
	}
	if h.Proto != ProtocolVersion {
		return refuse(fmt.Errorf("sender speaks protocol %d (ferry %s), this receiver %d (ferry %s): use the same ferry version on both sides", h.Proto, h.Version, ProtocolVersion, rc.Version))
	}
	if h.Role == roleData {
		return &h, -1, nil // join sends the welcome once the session is found
	}
	dir, ok := rc.Volumes[h.Volume]
	if !ok {
		names := make([]string, 0, len(rc.Volumes))
		for n := range rc.Volumes {
			names = append(names, n)
		}
		sort.Strings(names)
		return refuse(fmt.Errorf("no volume %q here; this receiver serves: %s", h.Volume, strings.Join(names, ", ")))
	}
	rootfd, err := openRoot(dir, h.Subdir)
	if err != nil {
		return refuse(fmt.Errorf("volume %q: %w", h.Volume, err))
	}
	wm := &welcome{Proto: ProtocolVersion, Version: rc.Version}
	if err := w.WriteFrame(tWelcome, encode(wm.encode)); err != nil {
		unix.Close(rootfd)
		return nil, -1, err
	}
	return &h, rootfd, nil
}

// openRoot opens the volume directory and the subdirectory inside it, creating the
// subdirectory's components as needed without following symlinks.
func openRoot(dir, subdir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", dir, err)
	}
	if subdir == "" {
		return fd, nil
	}
	if err := checkPath(subdir); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("subdirectory: %w", err)
	}
	for c := range strings.SplitSeq(subdir, "/") {
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, fmt.Errorf("create subdirectory %s: %w", quote(subdir), err)
		}
		next, err := openDirAt(fd, c)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open subdirectory %s: %w", quote(subdir), err)
		}
		fd = next
	}
	return fd, nil
}

// Messages from the reading goroutine to the session.
type (
	entriesMsg struct {
		first   uint64
		entries []entry
	}
	piecesMsg []piece
	deltaMsg  struct {
		index uint64
		ops   []deltaOp
	}
	endMsg  struct{ count uint64 }
	peerErr struct{ err error }
)

// deltaOp is a decoded delta operation.
type deltaOp struct {
	block, count int
	literal      []byte
}

// readLoop decodes the sender's frames into messages until the session ends (done). Data
// is copied out of the frame. A data connection may carry only file data. Once the session
// is over it reads on and drops what still arrives, until the connection ends (see hangUp).
func readLoop(r *wire.Reader, out chan<- any, done <-chan struct{}, dataOnly bool) {
	r.Own = ownFrame
	send := func(m any) bool {
		select {
		case out <- m:
			return true
		case <-done:
			return false
		}
	}
	for {
		t, p, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("sender closed the connection")
			}
			send(peerErr{err})
			return
		}
		var m any
		if dataOnly && t != tData && t != tDelta && t != tFileError {
			m = peerErr{fmt.Errorf("message %d on a data connection", t)}
		} else if m, err = decodeFromSender(t, p); err != nil {
			m = peerErr{err}
		}
		_, failed := m.(peerErr)
		if !send(m) || failed {
			<-done // a failure ends the session
			discard(r)
			return
		}
	}
}

// discard reads and drops frames until the connection ends.
func discard(r *wire.Reader) {
	r.Own = nil
	for {
		if _, _, err := r.ReadFrame(); err != nil {
			return
		}
	}
}

// ownFrame selects the frames whose payload the decoded messages keep.
func ownFrame(t wire.Type) bool { return t == tData || t == tDelta }

// decodeFromSender decodes one frame; for data frames it keeps references into p, which
// must not be reused (see ownFrame).
func decodeFromSender(t wire.Type, p []byte) (any, error) {
	d := wire.NewDec(p)
	var m any
	switch t {
	case tEntries:
		em := entriesMsg{first: d.Uvarint()}
		decodeList(d, maxBatch, func(d *wire.Dec) {
			var x entry
			decodeEntry(d, &x)
			em.entries = append(em.entries, x)
		})
		m = em
	case tData:
		var pm piecesMsg
		decodeList(d, maxBatch, func(d *wire.Dec) {
			var pc piece
			decodePiece(d, &pc)
			// pc.Data and pc.Digest alias the frame, which the reader gave us to keep.
			pm = append(pm, pc)
		})
		m = pm
	case tDelta:
		dm := deltaMsg{index: d.Uvarint()}
		decodeList(d, maxBatch, func(d *wire.Dec) {
			dm.ops = append(dm.ops, decodeOp(d))
		})
		m = dm
	case tFileError:
		var e msgError
		e.decode(d)
		m = e
	case tEnd:
		m = endMsg{count: d.Uvarint()}
	case tError:
		var e msgError
		e.decode(d)
		return nil, fmt.Errorf("sender failed: %s", e.Message)
	default:
		return nil, fmt.Errorf("unexpected message %d from sender", t)
	}
	if err := d.Done(); err != nil {
		return nil, malformed(t, err)
	}
	return m, nil
}

func decodeOp(d *wire.Dec) deltaOp {
	switch d.U8() {
	case 1:
		b := d.Uint(1<<40, "block")
		c := d.Uint(1<<40, "count")
		if c == 0 {
			d.Fail("copy of no blocks")
		}
		return deltaOp{block: int(b), count: int(c)}
	case 2:
		return deltaOp{literal: d.Bytes(wire.MaxPayload)} // the frame is ours to keep
	}
	d.Fail("unknown delta op")
	return deltaOp{}
}
