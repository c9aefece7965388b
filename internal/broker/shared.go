package broker

import (
	"context"
	"sync"
)

// One refresh of `mqctl top` (or one poll of `mqctl serve`) reads a
// broker through three roles: Lister, LagReader and DeadLetters. Each
// role asks the broker for itself, and much of what they ask is the same
// (Kafka's metadata and offsets, RabbitMQ's /api/queues, JetStream's
// stream listing). Within a context from ShareReads a driver answers such
// a read once and hands the answer to every role that asks again, so a
// refresh costs one round of requests per broker; outside one (ls, lag,
// dlq ls) every call reads afresh, as before.

// sharedKey is the context key of a refresh's shared reads.
type sharedKey struct{}

// shared holds the answers of one refresh, by the key the driver gave.
type shared struct {
	mu   sync.Mutex
	runs map[any]*sharedRun
}

type sharedRun struct {
	done  chan struct{}
	value any
	err   error
}

// ShareReads returns a context in which Shared answers each key once:
// what one refresh of several roles reads. Its answers are as current as
// the refresh: make a new one for each refresh, never keep one.
func ShareReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedKey{}, &shared{runs: map[any]*sharedRun{}})
}

// Shared returns read's answer for key. Within a context from ShareReads
// read is called once per key and its answer, error included, is what
// every call with the key gets (one that comes while it runs waits for
// it, or for its own ctx to end); outside one, read is called every time.
// The first call's ctx bounds the read, so the roles of one refresh
// should share one ctx (or children of it). A key is comparable and
// names the connection it reads, so two connections never share:
// struct{ c *Conn; what string }, say.
func Shared[T any](ctx context.Context, key any, read func() (T, error)) (T, error) {
	s, _ := ctx.Value(sharedKey{}).(*shared)
	if s == nil {
		return read()
	}
	s.mu.Lock()
	r, ok := s.runs[key]
	if !ok {
		r = &sharedRun{done: make(chan struct{})}
		s.runs[key] = r
	}
	s.mu.Unlock()
	if !ok {
		func() {
			defer close(r.done)
			r.value, r.err = read()
		}()
	} else {
		select {
		case <-r.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	v, _ := r.value.(T)
	return v, r.err
}

// Sharing reports whether ctx is from ShareReads: a driver may then read
// more at once than the one role asks, for the roles that come next.
func Sharing(ctx context.Context) bool {
	_, ok := ctx.Value(sharedKey{}).(*shared)
	return ok
}
