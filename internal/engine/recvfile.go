package engine

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ferrydvm/ferry/internal/scan"
)

// fileTask is a regular file whose data is on its way. The session creates it; after that
// only its worker touches the fields below the line.
type fileTask struct {
	index uint64
	x     *entry
	dir   *dirNode
	name  string
	how   uint8 // needWhole, needDelta or needResume, once decided
	check bool  // --checksum: a worker compares digests first

	// Prepared by the worker before the request is sent.
	sig        []byte
	prefixLen  int64
	prefixHash []byte

	ws writeState // the worker's
}

// file decides what a regular file needs.
func (s *session) file(idx uint64, parent *dirNode, name string, x *entry) error {
	if parent.fresh {
		return s.fetch(&fileTask{index: idx, x: x, dir: parent, name: name, how: needWhole})
	}
	st, err := lstatAt(parent.fd, name)
	exists := err == nil
	if exists && kindOfStat(st) != scan.KindFile {
		if err := removeAt(parent.fd, name); err != nil {
			return fmt.Errorf("replace %s with a file: %w", kindOfStat(st), err)
		}
		exists = false
	}
	if exists && !s.opts.Checksum && st.Size == x.Size && st.Mtim.Nano() == x.Mtime {
		return s.touchMeta(parent, name, st, x)
	}
	t := &fileTask{index: idx, x: x, dir: parent, name: name, how: needWhole}
	switch {
	case exists && s.opts.Checksum && st.Size == x.Size:
		t.check = true
	case exists && x.Size >= deltaMin && st.Size > 0:
		t.how = needDelta
	default:
		if tst, err := lstatAt(parent.fd, tempName(name)); err == nil && kindOfStat(tst) == scan.KindFile && tst.Size > 0 {
			t.how = needResume
		}
	}
	return s.fetch(t)
}

// fetch asks for a file's data, after a worker has prepared the request if it needs that.
func (s *session) fetch(t *fileTask) error {
	t.dir.pending++
	s.tasks[t.index] = t
	if t.x.Nlink > 1 {
		s.leaders[t.x.Path] = t
	}
	if t.how == needWhole && !t.check {
		s.need(t)
		return nil
	}
	s.preparing[t.index] = true
	s.dispatch(workItem{task: t, prepare: true})
	return nil
}

// touchMeta fixes the metadata of a file whose content is already right.
func (s *session) touchMeta(parent *dirNode, name string, st *unix.Stat_t, x *entry) error {
	if sameMeta(parent.fd, name, st, x, s.opts) {
		return nil
	}
	fd, err := unix.Openat(parent.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open to update metadata: %w", err)
	}
	defer unix.Close(fd)
	return applyMeta(parent.fd, name, fd, x, s.opts)
}

// special creates a symlink, FIFO or device under a temporary name and renames it into
// place, unless an identical one is there.
func (s *session) special(parent *dirNode, name string, x *entry) error {
	st, err := lstatAt(parent.fd, name)
	if parent.fresh {
		err = unix.ENOENT
	}
	if err == nil && kindOfStat(st) == x.Kind && sameSpecial(parent.fd, name, st, x) && sameMeta(parent.fd, name, st, x, s.opts) {
		return nil
	}
	if err == nil && kindOfStat(st) == scan.KindDir {
		if err := removeAt(parent.fd, name); err != nil {
			return fmt.Errorf("replace a directory: %w", err)
		}
	}
	tmp := tempName(name)
	unix.Unlinkat(parent.fd, tmp, 0)
	switch x.Kind {
	case scan.KindSymlink:
		err = unix.Symlinkat(x.Link, parent.fd, tmp)
	case scan.KindFIFO:
		err = unix.Mknodat(parent.fd, tmp, unix.S_IFIFO|0o600, 0)
	case scan.KindCharDev:
		err = unix.Mknodat(parent.fd, tmp, unix.S_IFCHR|0o600, int(x.Rdev))
	case scan.KindBlockDev:
		err = unix.Mknodat(parent.fd, tmp, unix.S_IFBLK|0o600, int(x.Rdev))
	default:
		return fmt.Errorf("unknown kind %d", x.Kind)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", x.Kind, err)
	}
	if err := applyMeta(parent.fd, tmp, -1, x, s.opts); err != nil {
		unix.Unlinkat(parent.fd, tmp, 0)
		return err
	}
	if err := unix.Renameat(parent.fd, tmp, parent.fd, name); err != nil {
		unix.Unlinkat(parent.fd, tmp, 0)
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

func sameSpecial(dirfd int, name string, st *unix.Stat_t, x *entry) bool {
	switch x.Kind {
	case scan.KindSymlink:
		buf := make([]byte, len(x.Link)+1)
		n, err := unix.Readlinkat(dirfd, name, buf)
		return err == nil && n == len(x.Link) && string(buf[:n]) == x.Link
	case scan.KindCharDev, scan.KindBlockDev:
		return uint64(st.Rdev) == x.Rdev
	}
	return true
}

// hardlink links name to the first path of its group, now or once that file is complete.
func (s *session) hardlink(parent *dirNode, name string, x *entry) error {
	req := linkReq{x: x, dir: parent, name: name}
	if _, inFlight := s.leaders[x.HardLink]; inFlight {
		parent.pending++
		s.waiting[x.HardLink] = append(s.waiting[x.HardLink], req)
		return nil
	}
	return s.link(req)
}

func (s *session) link(req linkReq) error {
	leaderDir, leaderName := splitPath(req.x.HardLink)
	lfd, err := openBeneath(s.rootfd, leaderDir)
	if err != nil {
		return fmt.Errorf("open the directory of %s to link to it: %w", quote(req.x.HardLink), err)
	}
	defer unix.Close(lfd)
	lst, err := lstatAt(lfd, leaderName)
	if err != nil || kindOfStat(lst) != scan.KindFile {
		return fmt.Errorf("link to %s: it is not a file on the target", quote(req.x.HardLink))
	}
	if st, err := lstatAt(req.dir.fd, req.name); err == nil && st.Dev == lst.Dev && st.Ino == lst.Ino {
		return nil // already linked
	} else if err == nil && kindOfStat(st) == scan.KindDir {
		if err := removeAt(req.dir.fd, req.name); err != nil {
			return fmt.Errorf("replace a directory: %w", err)
		}
	}
	tmp := tempName(req.name)
	unix.Unlinkat(req.dir.fd, tmp, 0)
	if err := unix.Linkat(lfd, leaderName, req.dir.fd, tmp, 0); err != nil {
		return fmt.Errorf("link to %s: %w", quote(req.x.HardLink), err)
	}
	if err := unix.Renameat(req.dir.fd, tmp, req.dir.fd, req.name); err != nil {
		unix.Unlinkat(req.dir.fd, tmp, 0)
		return fmt.Errorf("rename link into place: %w", err)
	}
	return nil
}

// completion is a worker's report on a task.
type completion struct {
	task     *fileTask
	last     bool // no more data will come for the file (false: a failure mid-file)
	prepared bool // the request is ready to send (or, with same, not needed)
	same     bool // --checksum found the content equal
	err      error
	bytes    int64
}

func (s *session) complete(c completion) {
	t := c.task
	if c.prepared && c.err == nil && !c.same {
		delete(s.preparing, t.index)
		s.need(t)
		s.ack()
		return
	}
	if c.same {
		st, err := lstatAt(t.dir.fd, t.name)
		if err == nil {
			err = s.touchMeta(t.dir, t.name, st, t.x)
		}
		c.err = err
	}
	wasPreparing := s.preparing[t.index]
	delete(s.preparing, t.index)
	delete(s.tasks, t.index)
	if c.err != nil && !c.last {
		s.dropped[t.index] = true // the sender is still sending it: drop the rest quietly
	}
	var aborted *abortError
	if errors.As(c.err, &aborted) {
		s.stats.Errors++
	} else if c.err != nil {
		s.fileFailed(t.index, t.x.Path, c.err)
	} else if !c.same {
		s.stats.Transferred++
		s.stats.Verified++
		s.stats.Bytes += uint64(c.bytes)
		s.dones.Uvarint(t.index)
		s.dones.Varint(c.bytes)
		s.nDones++
	}
	if _, ok := s.leaders[t.x.Path]; ok {
		delete(s.leaders, t.x.Path)
		for _, req := range s.waiting[t.x.Path] {
			var err error
			if c.err == nil {
				err = s.link(req)
			} else {
				err = fmt.Errorf("not linked: its first path %s failed", quote(t.x.Path))
			}
			if err != nil {
				s.fileFailed(0, req.x.Path, err)
			}
			req.dir.pending--
			s.maybeFinalize(req.dir)
		}
		delete(s.waiting, t.x.Path)
	}
	t.dir.pending--
	s.maybeFinalize(t.dir)
	if wasPreparing {
		s.ack()
	}
}
