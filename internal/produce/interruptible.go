package produce

import (
	"context"
	"errors"
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
}

type next struct {
	rec *Record
	err error
}

func NewInterruptible(ctx context.Context, src Reader) *Interruptible {
	r := &Interruptible{ctx: ctx, ch: make(chan next, 256)}
	go func() {
		defer close(r.ch)
		for ctx.Err() == nil {
			rec, err := src.Next()
			r.ch <- next{rec, err}
			if err != nil && rec == nil {
				var invalid *InvalidLine
				if !errors.As(err, &invalid) {
					return
				}
			}
		}
	}()
	return r
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

// Drain returns the records read but not taken, without waiting.
func (r *Interruptible) Drain() []*Record {
	var out []*Record
	for {
		select {
		case n, ok := <-r.ch:
			if !ok {
				return out
			}
			if n.rec != nil {
				out = append(out, n.rec)
			}
		default:
			return out
		}
	}
}
