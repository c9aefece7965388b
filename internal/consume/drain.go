package consume

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// drain is how an --exec run stops: when the run's context ends (SIGTERM,
// Ctrl-C) nothing more is fetched or started, the handlers already
// running go on, and after Options.ShutdownTimeout those still running
// are stopped, leaving their messages unsettled for redelivery. What
// finished before is settled as usual.
type drain struct {
	// ctx is the handlers' context: it ends only at the shutdown timeout.
	ctx     context.Context
	cancel  context.CancelFunc
	running atomic.Int64
	done    chan struct{}
}

// startDrain watches ctx; end must be called when the handlers are done.
func (r *runner) startDrain(ctx context.Context) *drain {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	dr := &drain{ctx: hctx, cancel: cancel, done: make(chan struct{})}
	timeout := r.o.ShutdownTimeout
	go func() {
		select {
		case <-dr.done:
			return
		case <-ctx.Done():
		}
		if timeout <= 0 {
			return
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-dr.done:
		case <-t.C:
			if n := dr.running.Load(); n > 0 {
				r.o.Logf("shutdown timeout %s: stopping %d handlers still running; their messages are left for redelivery", timeout, n)
			}
			cancel()
		}
	}()
	return dr
}

// run runs one handler attempt under the drain's context.
func (dr *drain) run(f func(context.Context) error) error {
	dr.running.Add(1)
	defer dr.running.Add(-1)
	return f(dr.ctx)
}

// stopped reports whether the shutdown timeout stopped the handlers.
func (dr *drain) stopped() bool { return dr.ctx.Err() != nil }

func (dr *drain) end() {
	close(dr.done)
	dr.cancel()
}

// stoppedCleanly reports whether ctx ended with Options.StopCause, a
// request to stop that ends the run as if it had finished.
func (r *runner) stoppedCleanly(ctx context.Context) bool {
	return r.o.StopCause != nil && errors.Is(context.Cause(ctx), r.o.StopCause)
}
