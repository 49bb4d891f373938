package treediff

import (
	"context"

	"github.com/ferrydvm/ferry/internal/scan"
)

// batchSize is the number of entries a walk hands over at a time.
const batchSize = 256

// cursor reads the entries of a walk that runs in its own goroutine.
type cursor struct {
	ch    <-chan []*scan.Entry
	batch []*scan.Entry
	ended bool
	err   error // set by the walk before it closes ch
}

// startWalk walks root in a goroutine and returns a cursor on its first entry.
func startWalk(ctx context.Context, root string, opts scan.Options) *cursor {
	ch := make(chan []*scan.Entry, 4)
	c := &cursor{ch: ch}
	go func() {
		defer close(ch)
		batch := make([]*scan.Entry, 0, batchSize)
		send := func() error {
			select {
			case ch <- batch:
				batch = make([]*scan.Entry, 0, batchSize)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c.err = scan.Walk(ctx, root, opts, func(e *scan.Entry) error {
			if batch = append(batch, e); len(batch) == batchSize {
				return send()
			}
			return nil
		}, nil)
		if c.err == nil && len(batch) > 0 {
			c.err = send()
		}
	}()
	c.fill()
	return c
}

// fill waits for the next batch if the current one is used up.
func (c *cursor) fill() {
	for len(c.batch) == 0 && !c.ended {
		b, ok := <-c.ch
		c.batch, c.ended = b, !ok
	}
}

// peek returns the current entry, or nil at the end of the walk.
func (c *cursor) peek() *scan.Entry {
	if len(c.batch) == 0 {
		return nil
	}
	return c.batch[0]
}

// next moves to the next entry.
func (c *cursor) next() {
	c.batch[0] = nil
	c.batch = c.batch[1:]
	c.fill()
}

// failed returns the walk's error once it has ended.
func (c *cursor) failed() error {
	if c.ended {
		return c.err
	}
	return nil
}

// skipBelow moves past the entries inside dir and returns how many there were.
func (c *cursor) skipBelow(dir string) int {
	n := 0
	for e := c.peek(); e != nil && below(dir, e.Path); e = c.peek() {
		c.next()
		n++
	}
	return n
}
