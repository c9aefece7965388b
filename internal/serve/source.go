package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// SourceConfig is how FromSource polls and reports.
type SourceConfig struct {
	Interval time.Duration
	// DeadLetters adds each context's dead-letter listing to its poll,
	// Destinations its listing of topics, queues and streams.
	DeadLetters  bool
	Destinations bool
	Warnf        func(format string, args ...any)
	Logf         func(level int, format string, args ...any)
	// Err receives the "answers again" lines.
	Err io.Writer
}

// DefaultContextLabel names the target of flags and environment alone
// (no context) in the context label, which Prometheus needs non-empty to
// tell its series from another's.
const DefaultContextLabel = "default"

// FromSource makes the exporter's contexts from a lag source: per target,
// a lag Reader and (with DeadLetters) a dead-letter listing on the same
// connection; a read that fails forgets the connection so the next poll
// dials again. The unresolved contexts are down from the start. timeout
// is the longest of the targets' --timeout, the bound of one poll.
func FromSource(src *source.Source, unresolved []lag.Failure, cfg SourceConfig) (ctxs []Context, timeout time.Duration, err error) {
	interval, deadLetters := cfg.Interval, cfg.DeadLetters
	seen := map[string]bool{}
	name := func(n string) (string, error) {
		n = cmp.Or(n, DefaultContextLabel)
		if seen[n] {
			return "", mqerr.Usagef("context %s is listed twice", n)
		}
		seen[n] = true
		return n, nil
	}
	for i, t := range src.Targets() {
		n, err := name(t.Context)
		if err != nil {
			return nil, 0, err
		}
		timeout = max(timeout, t.EffectiveTimeout())
		cfg.Logf(1, "context %s: %s (timeout %s)", n, t.Redacted(), t.EffectiveTimeout())
		h := &pollLog{warnf: cfg.Warnf, errOut: cfg.Err, name: n, interval: interval}
		c := Context{Name: n}
		c.Read = func(ctx context.Context) ([]lag.Row, error) {
			rows, err := src.ReadTarget(ctx, i)
			h.setup(err)
			if err != nil || (!deadLetters && !cfg.Destinations) {
				h.done(src, i, err)
			}
			return rows, err
		}
		if deadLetters {
			c.DeadLetters = func(ctx context.Context) ([]broker.DeadLetterDestination, error) {
				dests, err := readDeadLetters(ctx, src, i)
				if err != nil || !cfg.Destinations {
					h.done(src, i, err)
				}
				return dests, err
			}
		}
		if cfg.Destinations {
			c.Destinations = func(ctx context.Context) ([]broker.Destination, error) {
				dests, err := readDestinations(ctx, src, i)
				h.done(src, i, err)
				return dests, err
			}
		}
		ctxs = append(ctxs, c)
	}
	for _, u := range unresolved {
		n, err := name(u.Context)
		if err != nil {
			return nil, 0, err
		}
		cfg.Warnf("context %s: %s", n, u.Error)
		ctxs = append(ctxs, Context{Name: n, Err: errors.New(u.Error)})
	}
	return ctxs, timeout, nil
}

// readDeadLetters lists target i's dead-letter destinations as dlq ls
// finds them (none for a driver without dead letters).
func readDeadLetters(ctx context.Context, src *source.Source, i int) ([]broker.DeadLetterDestination, error) {
	return readRole(ctx, src, i, "dead letters", func(r broker.DeadLetters) ([]broker.DeadLetterDestination, error) {
		return r.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	})
}

// readDestinations lists target i's topics, queues and streams as ls
// does (none for a driver that cannot list).
func readDestinations(ctx context.Context, src *source.Source, i int) ([]broker.Destination, error) {
	return readRole(ctx, src, i, "destinations", func(r broker.Lister) ([]broker.Destination, error) {
		return r.List(ctx, broker.ListQuery{})
	})
}

// readRole reads target i through role R of its connection, nothing when
// the driver has not that role; an error is named by what and names no
// secret of the target.
func readRole[R, T any](ctx context.Context, src *source.Source, i int, what string, read func(R) ([]T, error)) ([]T, error) {
	conn, err := src.Conn(ctx, i)
	if err != nil {
		return nil, err
	}
	r, ok := any(conn).(R)
	if !ok {
		return nil, nil
	}
	out, err := read(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, broker.Scrub(err, src.Targets()[i].Secrets()...))
	}
	return out, nil
}

// pollLog says on stderr when a context's polls start failing and when
// they answer again, not at every poll. One context's polls run one at a
// time, so it needs no lock.
type pollLog struct {
	warnf    func(format string, args ...any)
	errOut   io.Writer
	name     string
	interval time.Duration
	failing  bool
	why      string // the last EmptyBySetupError said
}

// setup says once why the context's broker has nothing to list by its
// setup, after a lag read err that says so (source.EmptyBySetupError),
// and again if that changes; a read that answers with rows clears it.
func (l *pollLog) setup(err error) {
	empty, ok := errors.AsType[*source.EmptyBySetupError](err)
	switch {
	case ok && empty.Error() != l.why:
		l.warnf("context %s: %v: it answers, and exports no lag series (mqctl_context_lag_available 0)", l.name, empty)
		l.why = empty.Error()
	case err == nil:
		l.why = ""
	}
}

// done ends a poll of target i: err forgets its connection, unless the
// broker answered (source.EmptyBySetupError).
func (l *pollLog) done(src *source.Source, i int, err error) {
	if _, ok := errors.AsType[*source.EmptyBySetupError](err); ok {
		err = nil
	}
	switch {
	case err != nil:
		src.Forget(i)
		if !l.failing {
			l.warnf("context %s: %v (retrying every %s)", l.name, err, l.interval)
		}
		l.failing = true
	case l.failing:
		output.ErrLine(l.errOut, "", "context "+l.name+" answers again")
		l.failing = false
	}
}
