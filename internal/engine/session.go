package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

// deltaMin is the size from which a changed file is sent as a delta.
const deltaMin = 1 << 20

// session is the receiver's side of one run. One goroutine (run) owns all of its state and
// decides; workers only write files and prepare signatures, and report back on done.
type session struct {
	rc     *Receiver
	opts   Options
	rootfd int
	r      *wire.Reader
	out    *outbox
	log    *slog.Logger

	stack     []*dirNode           // directories the walk is inside, root first
	root      *dirNode             // nil until the root entry arrived
	tasks     map[uint64]*fileTask // files whose data is awaited
	leaders   map[string]*fileTask // first paths of hard-link groups still in flight
	waiting   map[string][]linkReq // hard links waiting for their first path
	preparing map[uint64]bool      // tasks whose request a worker is preparing
	dropped   map[uint64]bool      // failed files whose data is still on its way
	next      uint64               // index of the next entry expected
	acked     int64                // highest index acknowledged
	ended     bool
	finished  bool

	workers  []chan workItem
	done     chan completion
	msgs     chan any      // from every connection of the session
	over     chan struct{} // closed when run returns
	readDone chan struct{} // closed when the control connection's readLoop returns
	wg       sync.WaitGroup

	needs  wire.Enc
	nNeeds uint64
	dones  wire.Enc
	nDones uint64
	stats  summary
	fatal  error
	anon   anonTemps

	uid, gid   uint32 // the receiver's own, which --no-owner leaves objects with
	ownersLeft int64  // objects whose owner or group --no-owner did not keep
}

// dirNode is a directory of the target while its contents arrive.
type dirNode struct {
	path    string
	name    string
	x       *entry
	fd      int
	parent  *dirNode
	pending int  // children not yet complete: files, links, directories
	closed  bool // the walk has left it
	fresh   bool // created by this session: empty, so nothing in it needs comparing
	noACL   bool // fresh, without a default ACL: what is created in it starts with no ACL
	seen    map[string]bool
}

type linkReq struct {
	x    *entry
	dir  *dirNode
	name string
}

func newSession(rc *Receiver, h *hello, rootfd int, r *wire.Reader, w *wire.Writer) *session {
	s := &session{
		rc: rc, opts: h.Options, rootfd: rootfd, r: r, out: newOutbox(w), log: rc.Log,
		tasks: make(map[uint64]*fileTask), leaders: make(map[string]*fileTask),
		waiting: make(map[string][]linkReq), preparing: make(map[uint64]bool), dropped: make(map[uint64]bool),
		acked: -1, done: make(chan completion, 64),
		msgs: make(chan any, 16), over: make(chan struct{}), readDone: make(chan struct{}),
		uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

func (s *session) run(ctx context.Context) error {
	writeErr := make(chan error, 1)
	go func() { writeErr <- s.out.run(nil) }()
	msgs := s.msgs
	defer close(s.over)
	go func() {
		defer close(s.readDone)
		readLoop(s.r, msgs, s.over, false)
	}()
	wctx, stopWorkers := context.WithCancel(ctx)
	s.startWorkers(wctx)
	defer func() {
		stopWorkers()
		for _, ch := range s.workers {
			close(ch)
		}
		s.wg.Wait()
		for _, d := range s.stack {
			s.closeDir(d)
		}
	}()
	for !s.finished && s.fatal == nil {
		select {
		case m := <-msgs:
			s.handle(m)
		case c := <-s.done:
			s.complete(c)
		case <-ctx.Done():
			s.fatal = ctx.Err()
		}
		if len(msgs) == 0 && len(s.done) == 0 {
			s.flush()
		}
	}
	if s.fatal != nil {
		m := &msgError{Message: s.fatal.Error()}
		s.out.send(tError, encode(m.encode))
		s.out.close()
		<-writeErr
		return s.fatal
	}
	s.flush()
	if s.ownersLeft > 0 {
		s.stats.Notices = append(s.stats.Notices, fmt.Sprintf("the owner and group of %d objects were not kept (--no-owner): they belong to the receiver's user, %d:%d", s.ownersLeft, s.uid, s.gid))
	}
	s.out.send(tSummary, encode(s.stats.encode))
	s.out.close()
	return <-writeErr
}

// attach adds a data connection's frames to the session until it ends, then hangs the
// connection up as the control connection is (see hangUp): the sender may still be
// writing file data on it.
func (s *session) attach(ctx context.Context, conn io.ReadWriteCloser, r *wire.Reader) {
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		readLoop(r, s.msgs, s.over, true)
	}()
	select {
	case <-s.over:
	case <-ctx.Done(): // hangUp closes at once
	}
	hangUp(ctx, conn, readDone)
}

func (s *session) startWorkers(ctx context.Context) {
	n := s.rc.Workers
	if n <= 0 {
		n = 4
	}
	for range n {
		ch := make(chan workItem, 8) // pieces are up to 1 MiB: this bounds memory per worker
		s.workers = append(s.workers, ch)
		w := &worker{s: s, ctx: ctx}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run(ch)
		}()
	}
}

// dispatch hands an item to the worker that owns its file, handling completions while it
// waits so that a worker blocked on reporting cannot block us.
func (s *session) dispatch(it workItem) {
	ch := s.workers[it.task.index%uint64(len(s.workers))]
	for {
		select {
		case ch <- it:
			return
		case c := <-s.done:
			s.complete(c)
		}
	}
}

func (s *session) handle(m any) {
	switch m := m.(type) {
	case peerErr:
		s.fatal = m.err
	case entriesMsg:
		s.handleEntries(m)
	case piecesMsg:
		for i := range m {
			p := &m[i]
			t := s.tasks[p.Index]
			if t == nil && s.dropped[p.Index] {
				if p.Final {
					delete(s.dropped, p.Index)
				}
				continue
			}
			if t == nil || s.preparing[p.Index] {
				s.fatal = fmt.Errorf("sender sent data for entry %d, which was not asked for", p.Index)
				return
			}
			s.dispatch(workItem{task: t, piece: p})
		}
	case deltaMsg:
		t := s.tasks[m.index]
		if t == nil && s.dropped[m.index] {
			return
		}
		if t == nil || t.how != needDelta || s.preparing[m.index] {
			s.fatal = fmt.Errorf("sender sent a delta for entry %d, which was not asked for one", m.index)
			return
		}
		s.dispatch(workItem{task: t, ops: m.ops})
	case msgError:
		if t := s.tasks[m.Index]; t != nil {
			s.dispatch(workItem{task: t, abort: m.Message})
		}
	case endMsg:
		if m.count != s.next {
			s.fatal = fmt.Errorf("sender announced %d entries but sent %d", m.count, s.next)
			return
		}
		s.ended = true
		for len(s.stack) > 0 {
			s.pop()
		}
		if s.root == nil {
			s.fatal = errors.New("sender sent no root directory")
		}
	}
}

func (s *session) handleEntries(m entriesMsg) {
	if m.first != s.next || s.ended {
		s.fatal = fmt.Errorf("entries out of order: got %d, expected %d", m.first, s.next)
		return
	}
	for i := range m.entries {
		x := &m.entries[i]
		idx := s.next
		s.next++
		s.stats.Entries++
		if s.opts.NoOwner && (x.UID != s.uid || x.GID != s.gid) {
			s.ownersLeft++
		}
		if err := s.entry(idx, x); err != nil {
			if s.fatal != nil {
				return
			}
			s.fileFailed(idx, x.Path, err)
		}
		if s.fatal != nil {
			return
		}
	}
	s.ack()
}

// fileFailed records a per-file failure and tells the sender.
func (s *session) fileFailed(idx uint64, path string, err error) {
	s.stats.Errors++
	msg := fmt.Sprintf("%s: %v", quote(path), err)
	s.log.Warn("file failed", "path", path, "error", err)
	m := &msgError{Index: idx, Message: msg}
	s.out.send(tFileError, encode(m.encode))
}

// ack tells the sender every entry up to the lowest one still being prepared is decided.
func (s *session) ack() {
	upto := int64(s.next) - 1
	for idx := range s.preparing {
		upto = min(upto, int64(idx)-1)
	}
	if upto > s.acked {
		s.flushNeeds()
		s.acked = upto
		s.out.send(tAck, encode(func(e *wire.Enc) { e.Uvarint(uint64(upto)) }))
	}
}

func (s *session) need(t *fileTask) {
	n := &need{Index: t.index, How: t.how, Offset: t.prefixLen, Prefix: t.prefixHash, Signature: t.sig}
	encodeNeed(&s.needs, n)
	s.nNeeds++
	if len(s.needs.B) > 256<<10 || s.nNeeds >= maxBatch {
		s.flushNeeds()
	}
}

func (s *session) flushNeeds() {
	if s.nNeeds == 0 {
		return
	}
	var hdr wire.Enc
	hdr.Uvarint(s.nNeeds)
	s.out.send(tNeed, append(hdr.B, s.needs.B...))
	s.needs.B, s.nNeeds = nil, 0
}

func (s *session) flush() {
	s.flushNeeds()
	if s.nDones > 0 {
		var hdr wire.Enc
		hdr.Uvarint(s.nDones)
		s.out.send(tFileDone, append(hdr.B, s.dones.B...))
		s.dones.B, s.nDones = nil, 0
	}
}

// entry decides what one entry needs. Errors are per-file unless s.fatal is set.
func (s *session) entry(idx uint64, x *entry) error {
	if err := checkPath(x.Path); err != nil {
		s.fatal = fmt.Errorf("sender sent a bad path: %w", err)
		return s.fatal
	}
	if x.Path == "" {
		return s.enterRoot(x)
	}
	dirPath, name := splitPath(x.Path)
	parent := s.enter(dirPath)
	if parent == nil {
		s.fatal = fmt.Errorf("entry %s arrived outside its directory", quote(x.Path))
		return s.fatal
	}
	if isTempName(name) {
		return fmt.Errorf("skipped: the name is reserved for ferry's temporary files")
	}
	if parent.seen != nil {
		parent.seen[name] = true
	}
	switch x.Kind {
	case scan.KindDir:
		return s.mkdir(parent, name, x)
	case scan.KindFile:
		if x.HardLink != "" {
			if err := checkPath(x.HardLink); err != nil || x.HardLink == "" {
				s.fatal = fmt.Errorf("sender sent a bad hard link: %v", err)
				return s.fatal
			}
			return s.hardlink(parent, name, x)
		}
		return s.file(idx, parent, name, x)
	case scan.KindSocket:
		return nil
	}
	return s.special(parent, name, x)
}

func (s *session) enterRoot(x *entry) error {
	if s.root != nil || x.Kind != scan.KindDir {
		s.fatal = errors.New("sender sent a second root or a root that is not a directory")
		return s.fatal
	}
	s.root = &dirNode{x: x, fd: s.rootfd, name: "."}
	if s.opts.Delete {
		s.root.seen = make(map[string]bool)
	}
	s.stack = []*dirNode{s.root}
	return nil
}

// enter pops the stack down to the directory dirPath, closing what the walk left.
func (s *session) enter(dirPath string) *dirNode {
	for len(s.stack) > 0 {
		top := s.stack[len(s.stack)-1]
		if top.path == dirPath {
			return top
		}
		s.pop()
	}
	return nil
}

func (s *session) pop() {
	d := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	d.closed = true
	if d.seen != nil {
		s.deleteExtras(d)
		d.seen = nil
	}
	s.maybeFinalize(d)
}

func (s *session) mkdir(parent *dirNode, name string, x *entry) error {
	fresh := parent.fresh
	if !fresh {
		st, err := lstatAt(parent.fd, name)
		if err == nil && kindOfStat(st) != scan.KindDir {
			if err := removeAt(parent.fd, name); err != nil {
				return fmt.Errorf("replace with a directory: %w", err)
			}
			err = unix.ENOENT
		}
		fresh = err != nil
	}
	if fresh {
		if err := unix.Mkdirat(parent.fd, name, 0o700); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	fd, err := openDirAt(parent.fd, name)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	d := &dirNode{path: x.Path, name: name, x: x, fd: fd, parent: parent, fresh: fresh}
	switch {
	case fresh && parent.fresh:
		d.noACL = parent.noACL // made in a directory of ours: it inherited nothing new
	case fresh && !s.opts.NoXattrs:
		d.noACL = dropInheritedDefaultACL(fd)
	}
	if s.opts.Delete && !fresh {
		d.seen = make(map[string]bool)
	}
	parent.pending++
	s.stack = append(s.stack, d)
	return nil
}

// dropInheritedDefaultACL removes the default ACL a new directory inherited from its parent
// and reports whether it now surely has none, so that the files created in it start
// without an ACL. The directory's own attributes, default ACL included, are applied once
// its contents are done. Any other answer (a file system without POSIX ACLs, which may have
// its own inheritance, or a refusal) leaves the directory to the slower path: its files'
// attributes are listed and fixed one by one.
func dropInheritedDefaultACL(fd int) bool {
	err := unix.Fremovexattr(fd, scan.ACLDefault)
	return err == nil || errors.Is(err, unix.ENODATA)
}

// clean reports whether a file created in d starts with no xattrs and with the mode it is
// created with, so that nothing needs listing or fixing afterwards.
func (d *dirNode) clean() bool { return d.fresh && d.noACL }

// maybeFinalize applies a directory's metadata once the walk has left it and everything in
// it is complete, then does the same for its parent.
func (s *session) maybeFinalize(d *dirNode) {
	for d != nil && d.closed && d.pending == 0 {
		st, err := lstatAt(d.fd, ".")
		if err == nil && !sameMeta(d.fd, ".", st, d.x, s.opts) {
			err = applyMeta(d.fd, ".", d.fd, d.x, s.opts)
		}
		if err != nil {
			s.fileFailed(0, d.path, err)
		}
		s.closeDir(d)
		if d.parent == nil {
			s.finished = s.ended
			return
		}
		d.parent.pending--
		d = d.parent
	}
}

func (s *session) closeDir(d *dirNode) {
	if d.fd >= 0 && d.fd != s.rootfd {
		unix.Close(d.fd)
	}
	d.fd = -1
}

// deleteExtras removes what the directory holds that the source does not.
func (s *session) deleteExtras(d *dirNode) {
	names, err := readNames(d.fd)
	if err != nil {
		s.fileFailed(0, d.path, fmt.Errorf("list for --delete: %w", err))
		return
	}
	for _, n := range names {
		if d.seen[n] || isTempName(n) || (d == s.root && n == "lost+found") {
			continue
		}
		if err := removeAt(d.fd, n); err != nil {
			s.fileFailed(0, joinPath(d.path, n), fmt.Errorf("delete: %w", err))
			continue
		}
		s.stats.Deleted++
	}
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
