package engine

import (
	"strconv"
	"sync"
)

// job is one file the receiver asked for.
type job struct {
	entry *entry
	need  need
}

// jobQueue hands needed files to data workers. push never blocks (it is called by the
// goroutine that reads from the peer).
type jobQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	q      []*job
	closed bool
}

func newJobQueue() *jobQueue {
	j := &jobQueue{}
	j.cond = sync.NewCond(&j.mu)
	return j
}

func (j *jobQueue) push(x *job) {
	j.mu.Lock()
	j.q = append(j.q, x)
	j.cond.Signal()
	j.mu.Unlock()
}

// pop waits for a job; it returns nil once the queue is closed.
func (j *jobQueue) pop() *job {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.q) == 0 && !j.closed {
		j.cond.Wait()
	}
	return j.takeLocked()
}

// tryPop returns a job if one is waiting.
func (j *jobQueue) tryPop() *job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.takeLocked()
}

func (j *jobQueue) takeLocked() *job {
	if len(j.q) == 0 {
		return nil
	}
	x := j.q[0]
	j.q[0] = nil
	j.q = j.q[1:]
	return x
}

func (j *jobQueue) close() {
	j.mu.Lock()
	j.closed = true
	j.cond.Broadcast()
	j.mu.Unlock()
}

// budget bounds the bytes of file data queued for the network, so fast disks do not fill
// memory when the network is slow.
type budget struct {
	mu     sync.Mutex
	cond   *sync.Cond
	avail  int
	limit  int
	closed bool
}

func newBudget(limit int) *budget {
	b := &budget{avail: limit, limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// take waits until n bytes are available (a request larger than the limit waits for all),
// or the budget is closed because the connection is gone.
func (b *budget) take(n int) {
	n = min(n, b.limit)
	b.mu.Lock()
	for b.avail < n && !b.closed {
		b.cond.Wait()
	}
	b.avail -= n
	b.mu.Unlock()
}

// close wakes every waiter for good.
func (b *budget) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.avail = min(b.avail+n, b.limit)
	b.cond.Broadcast()
	b.mu.Unlock()
}

// quote prints a path from the peer safely (newlines, invalid UTF-8).
func quote(p string) string {
	if p == "" {
		return "."
	}
	return strconv.Quote(p)
}
