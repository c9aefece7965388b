package nats

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mqctl/mqctl/internal/broker"
)

// window bounds the messages in flight and lets Flush wait for the ones
// published so far. It counts with atomics: a publisher and the ack
// handler only meet on a channel when the window is full.
type window struct {
	size int64
	// used counts the messages between acquire and release.
	used atomic.Int64
	// sleepers counts the acquires waiting for room; space (capacity 1)
	// wakes one of them.
	sleepers atomic.Int32
	space    chan struct{}

	published atomic.Uint64
	settled   atomic.Uint64
	// waiting counts the Flush calls waiting, so that release only locks
	// when there is one.
	waiting atomic.Int32
	mu      sync.Mutex
	waiters []waiter
}

type waiter struct {
	target uint64
	ch     chan struct{}
}

func newWindow(size int) *window {
	return &window{size: int64(size), space: make(chan struct{}, 1)}
}

// acquire takes a slot, waiting while the window is full.
func (w *window) acquire(ctx context.Context, closing <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for w.used.Add(1) > w.size {
		w.used.Add(-1)
		if err := w.sleep(ctx, closing); err != nil {
			return err
		}
	}
	w.published.Add(1)
	if w.sleepers.Load() > 0 && w.used.Load() < w.size {
		// One release can free several slots but wakes one sleeper;
		// pass the wake on.
		w.nudge()
	}
	return nil
}

// sleep waits until a release may have made room.
func (w *window) sleep(ctx context.Context, closing <-chan struct{}) error {
	w.sleepers.Add(1)
	defer w.sleepers.Add(-1)
	// A release between the failed acquire and the line above saw no
	// sleeper; look again.
	if w.used.Load() < w.size {
		return nil
	}
	select {
	case <-w.space:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return errClosed
	}
}

func (w *window) nudge() { signal(w.space) }

// settle calls done and then frees the message's slot, so that Flush
// returns only after the done calls.
func (w *window) settle(done func(broker.Receipt, error), r broker.Receipt, err error) {
	done(r, err)
	w.release(1)
}

func (w *window) release(n int) {
	if n == 0 {
		return
	}
	w.used.Add(-int64(n))
	w.settled.Add(uint64(n))
	if w.sleepers.Load() > 0 {
		w.nudge()
	}
	if w.waiting.Load() > 0 {
		w.wake()
	}
}

// wake releases the waiters whose messages are all settled.
func (w *window) wake() {
	settled := w.settled.Load()
	w.mu.Lock()
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if settled >= wt.target {
			close(wt.ch)
		} else {
			kept = append(kept, wt)
		}
	}
	w.waiters = kept
	w.waiting.Store(int32(len(kept)))
	w.mu.Unlock()
}

// wait returns once every message published before the call is settled.
func (w *window) wait(ctx context.Context) error {
	target := w.published.Load()
	if w.settled.Load() >= target {
		return nil
	}
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiters = append(w.waiters, waiter{target, ch})
	w.waiting.Add(1)
	w.mu.Unlock()
	// A release between the check above and the registration saw no
	// waiter; look again.
	w.wake()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
