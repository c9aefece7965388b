package rabbitmq

import (
	"context"
	"errors"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// aside runs f, whose amqp091 calls take no context, on a goroutine of its
// own and waits for it or for ctx. When ctx ends first the error is
// interrupted (cancelled) or timedOut (deadline), and a result that comes
// later goes to discard (when not nil), so nothing opened is leaked.
func aside[T any](ctx context.Context, f func() (T, error), discard func(T), interrupted, timedOut string) (T, error) {
	type result struct {
		v   T
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := f()
		res <- result{v, err}
	}()
	select {
	case r := <-res:
		if r.err == nil || ctx.Err() == nil || !errors.Is(r.err, ctx.Err()) {
			return r.v, r.err
		}
	case <-ctx.Done():
		if discard != nil {
			go func() {
				if r := <-res; r.err == nil {
					discard(r.v)
				}
			}()
		}
	}
	var zero T
	if errors.Is(ctx.Err(), context.Canceled) {
		return zero, mqerr.New(mqerr.Interrupted, "%s", interrupted)
	}
	return zero, mqerr.New(mqerr.Unreachable, "%s", timedOut)
}
