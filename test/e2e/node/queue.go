package node

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// controller is a work queue of keys and the function that brings one key's objects to
// where they should be. A key whose sync fails is retried with backoff; each key is
// synced by one worker at a time.
type controller struct {
	name  string
	queue workqueue.TypedRateLimitingInterface[string]
	sync  func(ctx context.Context, key string) error
	logf  func(format string, args ...any)
}

func newController(name string, logf func(string, ...any), sync func(context.Context, string) error) *controller {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second)
	return &controller{
		name:  name,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		sync:  sync,
		logf:  logf,
	}
}

// add queues key.
func (c *controller) add(key string) { c.queue.Add(key) }

// run works the queue until ctx ends, then shuts the queue down.
func (c *controller) run(ctx context.Context, workers int) {
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for c.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	for range workers {
		<-done
	}
}

func (c *controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	switch {
	case err == nil:
		c.queue.Forget(key)
	case ctx.Err() != nil:
		// Stopping: the error is the cancellation's.
	default:
		// Logged once it keeps failing: the first tries often meet an object the
		// cache has not seen yet.
		if n := c.queue.NumRequeues(key); n == 5 {
			c.logf("node: %s %s: %v (retrying)", c.name, key, err)
		}
		c.queue.AddRateLimited(key)
	}
	return true
}
