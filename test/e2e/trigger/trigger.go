// Package trigger runs the reconcile function of one of the environment's small
// controllers (the Service relay, the router) again whenever something it watches
// changes: a work queue with a single key. Pokes that arrive while a round runs fold into
// one more round; a failed round is retried a second later.
package trigger

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/client-go/tools/cache"
)

// Trigger asks for another round of reconciliation.
type Trigger struct{ kick chan struct{} }

// New returns a Trigger with no round pending.
func New() *Trigger { return &Trigger{kick: make(chan struct{}, 1)} }

// Poke asks for a round; it never blocks.
func (t *Trigger) Poke() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Handler pokes on every add, update and delete an informer sees.
func (t *Trigger) Handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { t.Poke() },
		UpdateFunc: func(any, any) { t.Poke() },
		DeleteFunc: func(any) { t.Poke() },
	}
}

// Run calls reconcile for each poke until ctx ends.
func (t *Trigger) Run(ctx context.Context, log *slog.Logger, reconcile func(context.Context) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
			if err := reconcile(ctx); err != nil {
				log.Warn("reconcile", "err", err)
				time.AfterFunc(time.Second, t.Poke)
			}
		}
	}
}
