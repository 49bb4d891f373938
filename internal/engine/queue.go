package engine

import (
	"sync"

	"github.com/ferrydvm/ferry/internal/wire"
)

// frame is one message waiting to be written.
type frame struct {
	t       wire.Type
	payload []byte
	data    carried // file data in it, for Progress once written
}

// outbox serialises frames from many goroutines onto one wire.Writer. Its queue has no
// bound: the goroutine that reads from the peer must never block on it, or two peers each
// waiting for the other to read would deadlock. Producers of bulk data bound themselves
// (see sender.inflight).
type outbox struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []frame
	closed bool
	err    error
	w      *wire.Writer
}

func newOutbox(w *wire.Writer) *outbox {
	o := &outbox{w: w}
	o.cond = sync.NewCond(&o.mu)
	return o
}

// send queues a frame; it never blocks. After a write error it drops frames.
func (o *outbox) send(t wire.Type, payload []byte) { o.push(frame{t: t, payload: payload}) }

// sendData queues a frame that carries file data; run's callback sees data once the frame
// is written.
func (o *outbox) sendData(t wire.Type, payload []byte, data carried) {
	o.push(frame{t: t, payload: payload, data: data})
}

func (o *outbox) push(f frame) {
	o.mu.Lock()
	if !o.closed {
		o.queue = append(o.queue, f)
		o.cond.Signal()
	}
	o.mu.Unlock()
}

// close lets run return once the queue is written.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.cond.Signal()
	o.mu.Unlock()
}

// run writes queued frames until close, flushing whenever the queue runs dry, and calls
// written after each frame it wrote. It returns the first write error.
func (o *outbox) run(written func(frame)) error {
	var batch []frame
	for {
		o.mu.Lock()
		for len(o.queue) == 0 && !o.closed {
			o.mu.Unlock()
			if err := o.w.Flush(); err != nil {
				return o.fail(err)
			}
			o.mu.Lock()
			for len(o.queue) == 0 && !o.closed {
				o.cond.Wait()
			}
		}
		if len(o.queue) == 0 && o.closed {
			o.mu.Unlock()
			return o.fail(o.w.Flush())
		}
		batch, o.queue = o.queue, batch[:0]
		o.mu.Unlock()
		for _, f := range batch {
			if err := o.w.WriteFrame(f.t, f.payload); err != nil {
				return o.fail(err)
			}
			if written != nil {
				written(f)
			}
		}
		clear(batch)
	}
}

func (o *outbox) fail(err error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil && o.err == nil {
		o.err = err
		o.closed = true
		o.queue = nil
	}
	return err
}

// encode builds a payload with fn.
func encode(fn func(e *wire.Enc)) []byte {
	var e wire.Enc
	fn(&e)
	return e.B
}
