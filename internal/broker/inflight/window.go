// Package inflight holds the window every producer bounds its messages in
// flight with: a message takes a slot before it is sent and gives it back
// once its done call has returned, and Flush waits for the window to
// empty.
package inflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is what Acquire returns once the window is closed.
var ErrClosed = errors.New("producer closed before the message was confirmed")

// Window bounds the messages in flight. It counts with atomics: a
// publisher and the goroutine that settles messages only meet on a
// channel when the window is full, and only lock when Wait is waiting.
// The zero Window is not usable; use New.
type Window struct {
	size int64
	// used counts the slots taken and not released, plus, for an
	// instant, the failed attempts of Acquire on a full window.
	used atomic.Int64
	// sleepers counts the Acquire calls waiting for room; space
	// (capacity 1) wakes one of them.
	sleepers atomic.Int32
	space    chan struct{}

	closed    atomic.Bool
	closing   chan struct{}
	closeOnce sync.Once

	// waiting counts the Wait calls waiting, so that Release only locks
	// when there is one.
	waiting atomic.Int32
	mu      sync.Mutex
	idle    []chan struct{}
}

// New returns a window of size slots; size must be positive.
func New(size int) *Window {
	if size <= 0 {
		panic("inflight: window size must be positive")
	}
	return &Window{size: int64(size), space: make(chan struct{}, 1), closing: make(chan struct{})}
}

// Size is the number of slots.
func (w *Window) Size() int { return int(w.size) }

// InUse is the number of slots taken and not released.
func (w *Window) InUse() int { return int(max(0, min(w.used.Load(), w.size))) }

// Sleeping is the number of Acquire calls waiting for room: tests wait for
// it to see that a publish is held by a full window.
func (w *Window) Sleeping() int { return int(w.sleepers.Load()) }

// Acquire takes a slot, waiting while the window is full. It fails with
// ctx's error when ctx ends first, and with ErrClosed once Close was
// called.
func (w *Window) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.closed.Load() {
		return ErrClosed
	}
	for w.used.Add(1) > w.size {
		w.giveBack(1)
		if err := w.sleep(ctx); err != nil {
			return err
		}
	}
	if w.sleepers.Load() > 0 && w.used.Load() < w.size {
		// One Release can free several slots but wakes one sleeper;
		// pass the wake on.
		w.nudge()
	}
	return nil
}

// sleep waits until a Release may have made room.
func (w *Window) sleep(ctx context.Context) error {
	w.sleepers.Add(1)
	defer w.sleepers.Add(-1)
	// A Release between the failed attempt and the line above saw no
	// sleeper; look again.
	if w.used.Load() < w.size {
		return nil
	}
	select {
	case <-w.space:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return ErrClosed
	}
}

func (w *Window) nudge() {
	select {
	case w.space <- struct{}{}:
	default:
	}
}

// Release gives n slots back, after the done calls of their messages
// returned (so that Wait returns only after them).
func (w *Window) Release(n int) {
	if n <= 0 {
		return
	}
	w.giveBack(int64(n))
	if w.sleepers.Load() > 0 {
		w.nudge()
	}
}

// giveBack lowers used by n and wakes the Wait calls when the window is
// empty.
func (w *Window) giveBack(n int64) {
	if w.used.Add(-n) == 0 && w.waiting.Load() > 0 {
		w.wake()
	}
}

// wake releases the Wait calls when no slot is taken.
func (w *Window) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.used.Load() != 0 {
		// Taken again since; the Release of that slot wakes them.
		return
	}
	for _, ch := range w.idle {
		close(ch)
	}
	w.idle = nil
	w.waiting.Store(0)
}

// Wait returns once no slot is taken, so every message acquired before
// the call has been released, or with ctx's error when it ends first.
// Messages acquired meanwhile are waited for too: a producer's caller
// does not publish while it flushes.
func (w *Window) Wait(ctx context.Context) error {
	if w.used.Load() == 0 {
		return nil
	}
	ch := make(chan struct{})
	w.mu.Lock()
	w.idle = append(w.idle, ch)
	w.waiting.Add(1)
	w.mu.Unlock()
	// A Release between the check above and the registration saw no
	// waiter; look again.
	w.wake()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close makes every later Acquire fail with ErrClosed and wakes those
// waiting for room with it. Slots taken stay taken until released.
func (w *Window) Close() {
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		close(w.closing)
	})
}
