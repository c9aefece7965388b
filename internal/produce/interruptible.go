package produce

import (
	"context"
	"errors"
	"sync"
)

// errNotSent fails records that were read but not sent when the run was
// interrupted, so they are reported (and written to --failed-out).
var errNotSent = errors.New("not sent: interrupted before publishing")

// Interruptible reads src in a goroutine so that Next returns as soon as ctx
// ends, even while src blocks on a terminal or a pipe that has no more to
// say. Records read but not yet taken are handed back by Drain. Regular
// files and arguments never block, so they do not need it.
type Interruptible struct {
	ctx context.Context
	ch  chan next

	// mu guards the reader's state, so that Drain can wait until the
	// reader holds no record: it is then blocked in src.Next (what it
	// reads from now on comes after the interrupt) or gone.
	mu      sync.Mutex
	changed *sync.Cond
	inNext  bool
	exited  bool
	held    *Record // read after ctx ended, when ch was full
}

type next struct {
	rec *Record
	err error
}

func NewInterruptible(ctx context.Context, src Reader) *Interruptible {
	r := &Interruptible{ctx: ctx, ch: make(chan next, 256)}
	r.changed = sync.NewCond(&r.mu)
	go r.read(src)
	return r
}

func (r *Interruptible) read(src Reader) {
	defer func() {
		r.setState(func() { r.inNext, r.exited = false, true })
		close(r.ch)
	}()
	for r.ctx.Err() == nil {
		r.setState(func() { r.inNext = true })
		rec, err := src.Next()
		r.setState(func() { r.inNext = false })
		select {
		case r.ch <- next{rec, err}:
		case <-r.ctx.Done():
			// ch is full and nobody takes from it any more: keep the
			// record for Drain rather than blocking for ever with it.
			if rec != nil {
				r.setState(func() { r.held = rec })
			}
			return
		}
		if err != nil && rec == nil {
			var invalid *InvalidLine
			if !errors.As(err, &invalid) {
				return
			}
		}
	}
}

func (r *Interruptible) setState(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	r.changed.Broadcast()
}

// Next returns the next record, or ctx's error once ctx ended.
func (r *Interruptible) Next() (*Record, error) {
	select {
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	case n, ok := <-r.ch:
		if !ok {
			return nil, r.ctx.Err()
		}
		return n.rec, n.err
	}
}

// Drain returns the records read but not taken, once ctx ended. It waits
// only for the reader to put down the record it may have just read; a
// reader blocked in src.Next holds none.
func (r *Interruptible) Drain() []*Record {
	r.mu.Lock()
	for !r.inNext && !r.exited {
		r.changed.Wait()
	}
	held := r.held
	r.held = nil
	r.mu.Unlock()
	var out []*Record
	for {
		select {
		case n, ok := <-r.ch:
			if !ok {
				return appendHeld(out, held)
			}
			if n.rec != nil {
				out = append(out, n.rec)
			}
		default:
			return appendHeld(out, held)
		}
	}
}

func appendHeld(out []*Record, held *Record) []*Record {
	if held != nil {
		out = append(out, held)
	}
	return out
}
