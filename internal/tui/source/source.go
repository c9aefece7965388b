// Package source implements tui.Source on the driver roles the CLI uses
// (broker.Lister, broker.LagReader, broker.DeadLetters, a peek consumer as
// `dlq peek` opens it); dead letters are read and acted on through
// internal/dlq, as the dlq commands do.
package source

import (
	"cmp"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/tui"
)

// Brokers reads contexts through their drivers, one connection each,
// kept open across refreshes.
type Brokers struct {
	Targets []broker.Target
	// TimeLagEvery is how often a context's read asks its lag rows'
	// time lags, where the driver has them (Kafka, JetStream; as `mqctl
	// lag --time-lag`, which costs a fetch of each lagging partition's
	// next record or a lookup per lagging consumer); the reads between
	// ask nothing more and the dashboard ages what the last one said.
	// 0 is DefaultTimeLagEvery; below 0, never.
	TimeLagEvery time.Duration

	mu    sync.Mutex
	conns map[int]broker.Conn
	// timeLagAt is when each context's lag was last read with time lags.
	timeLagAt map[int]time.Time
	// samples keeps each context's last dead-letter samples by
	// destination, read again only when its depth changes.
	samples map[int]map[string]sample
}

var _ tui.Source = (*Brokers)(nil)

// Contexts names the targets.
func (s *Brokers) Contexts() []string {
	out := make([]string, len(s.Targets))
	for i, t := range s.Targets {
		out[i] = t.Context
		if out[i] == "" {
			out[i] = "default"
		}
	}
	return out
}

// Close closes every connection.
func (s *Brokers) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *Brokers) conn(ctx context.Context, i int) (broker.Conn, error) {
	s.mu.Lock()
	c := s.conns[i]
	s.mu.Unlock()
	if c != nil {
		// A connection the broker ended (a RabbitMQ restart: its
		// management API answers the refreshes again, but the AMQP link
		// that peeks, replays and purges is closed) is opened again.
		e, ok := c.(broker.Ender)
		if !ok || !e.Ended() {
			return c, nil
		}
		s.drop(i, c)
	}
	c, err := broker.Open(ctx, s.Targets[i])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[int]broker.Conn{}
	}
	s.conns[i] = c
	return c, nil
}

// Read lists destinations, lag and dead-letter destinations of context i.
// What one role fails to read is left nil; the errors are joined. The
// roles share their reads (broker.ShareReads): what one asked the broker,
// the next takes from its answer, so a refresh asks each thing once.
func (s *Brokers) Read(ctx context.Context, i int) (tui.Snapshot, error) {
	ctx = broker.ShareReads(ctx)
	t := s.Targets[i]
	conn, err := s.conn(ctx, i)
	if err != nil {
		return tui.Snapshot{}, broker.Scrub(err, t.Secrets()...)
	}
	snap := tui.Snapshot{Broker: conn.Broker()}
	var errs []error
	read := 0 // roles read without an error
	if l, err := broker.As[broker.Lister](conn, "listing"); err == nil {
		d, err := l.List(ctx, broker.ListQuery{})
		if d == nil && err == nil {
			d = []broker.Destination{}
		}
		snap.Destinations, errs = d, append(errs, err)
		read += ok(err)
	}
	if r, err := broker.As[broker.LagReader](conn, "lag"); err == nil {
		q, asked := broker.LagQuery{TimeLag: s.timeLagDue(i, conn)}, time.Now()
		rows, err := r.Lag(ctx, q)
		if err == nil && rows == nil {
			rows = rows[:0:0]
		}
		if err == nil && q.TimeLag {
			snap.TimeLag = true
			s.mu.Lock()
			s.timeLagAt[i] = asked
			s.mu.Unlock()
		}
		if errors.Is(err, broker.ErrCannotList) {
			err = nil // as lag without names: nothing to read by name here
		}
		snap.Lag, errs = rows, append(errs, err)
		read += ok(err)
	}
	if d, err := broker.As[broker.DeadLetters](conn, "dead letters"); err == nil {
		dl, err := d.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
		if err == nil {
			snap.DeadLetters = make([]tui.DeadLetterRow, len(dl))
			for j, d := range dl {
				snap.DeadLetters[j] = tui.DeadLetterRow{DeadLetterDestination: d}
			}
		}
		errs = append(errs, err)
		read += ok(err)
	}
	// Last, within half of what is left of the read's time: a sample is
	// a hint and must not hold the other roles' rows for long.
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		sctx, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
	}
	s.sampleDeadLetters(sctx, i, conn, snap.DeadLetters)
	cancel()
	if err := errors.Join(errs...); err != nil {
		// Every role failed at once, and not by running out of time (a
		// driver may be reconnecting by itself then): the connection is
		// likely dead for good (nats.go gives up after its last reconnect,
		// an AMQP connection ends with the broker). The next refresh opens
		// a new one.
		if read == 0 && !errors.Is(err, context.DeadlineExceeded) {
			s.drop(i, conn)
		}
		return snap, broker.Scrub(err, t.Secrets()...)
	}
	return snap, nil
}

// DefaultTimeLagEvery is Brokers.TimeLagEvery's default: at the default
// --interval of 2 s, about one refresh in five asks for time lags.
const DefaultTimeLagEvery = 10 * time.Second

// timeLagDue says whether this read of context i asks for time lags:
// when the driver has them (it does not refuse the query) and the last
// read that asked is TimeLagEvery old.
func (s *Brokers) timeLagDue(i int, conn broker.Conn) bool {
	every := cmp.Or(s.TimeLagEvery, DefaultTimeLagEvery)
	if every < 0 {
		return false
	}
	if c, ok := conn.(broker.LagQueryChecker); ok && c.CheckLagQuery(broker.LagQuery{TimeLag: true}) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timeLagAt == nil {
		s.timeLagAt = map[int]time.Time{}
	}
	at, ok := s.timeLagAt[i]
	return !ok || time.Since(at) >= every
}

// SampleSize is how many dead letters of each destination are read, from
// its start, for the top reason and original destination.
const SampleSize = 100

// sample is what one read of a destination's first dead letters said.
type sample struct {
	messages       int64 // the depth it was read at
	reason, origin string
	n              int
	oldest         time.Time
}

// sampleDeadLetters fills in each row's top reason and original
// destination from its first SampleSize dead letters, read and counted as
// `mqctl dlq ls --sample` does (Kafka commits nothing, JetStream reads
// with AckNone and follows advisories). Where a read marks messages
// redelivered (RabbitMQ) nothing is read and the row says NotRead. A
// destination is read again only when its depth changed, so a quiet DLQ
// is read once a session. What a read that warned or ran out of time got
// is shown but not kept, so the next refresh reads again; one that got
// nothing leaves the row empty: a sample is a hint, not the refresh.
func (s *Brokers) sampleDeadLetters(ctx context.Context, i int, conn broker.Conn, rows []tui.DeadLetterRow) {
	if len(rows) == 0 {
		return
	}
	s.mu.Lock()
	old := s.samples[i]
	s.mu.Unlock()
	kept := make(map[string]sample, len(rows))
	for j := range rows {
		r := &rows[j]
		src := dlq.NewSource(conn, s.Targets[i], r.Name, nil)
		if src.Caps.PeekMarksRedelivered {
			r.NotRead = r.Messages > 0
			continue
		}
		sm, seen := old[r.Name]
		keep := true
		if !seen || sm.messages != r.Messages {
			if r.Messages == 0 || ctx.Err() != nil {
				continue
			}
			// The driver may warn from its own goroutines.
			var warned atomic.Bool
			src.Logf = func(string, ...any) { warned.Store(true) }
			st := dlq.SampleReasons(ctx, src, SampleSize)
			keep = !warned.Load() && ctx.Err() == nil
			if !keep && st.Total == 0 {
				continue
			}
			sm = sample{messages: r.Messages, n: int(st.Total), oldest: st.Oldest()}
			if top := st.Reasons.Top(1); len(top) > 0 {
				sm.reason = top[0].Key
			}
			if top := st.Destinations.Top(1); len(top) > 0 {
				sm.origin = top[0].Key
			}
		}
		if keep {
			kept[r.Name] = sm
		}
		r.TopReason, r.Origin, r.Sampled = sm.reason, sm.origin, sm.n
		if r.Oldest.IsZero() && src.Caps.PurgeAfterCopy {
			// As dlq ls: a stream purged up to a position is read from
			// its start, so the first dead letters read are the oldest.
			r.Oldest = sm.oldest
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == nil {
		s.samples = map[int]map[string]sample{}
	}
	s.samples[i] = kept
}

func ok(err error) int {
	if err == nil {
		return 1
	}
	return 0
}

// drop closes c and forgets it if it is still context i's connection.
func (s *Brokers) drop(i int, c broker.Conn) {
	s.mu.Lock()
	if s.conns[i] != c {
		s.mu.Unlock()
		return
	}
	delete(s.conns, i)
	s.mu.Unlock()
	c.Close()
}

// Peek reads up to n messages of dest as `dlq peek` does, through the
// same dlq.Source read (Kafka commits nothing, JetStream AckNone, RabbitMQ
// holds them unacked and requeues them at Close).
func (s *Brokers) Peek(ctx context.Context, i int, dest string, n int) ([]broker.Message, error) {
	t := s.Targets[i]
	conn, err := s.conn(ctx, i)
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	c, err := dlq.NewSource(conn, t, dest, nil).Consumer(ctx, dlq.ReadPeek, "", n)
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	var out []broker.Message
	for len(out) < n {
		d, err := c.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			c.Close()
			return out, broker.Scrub(err, t.Secrets()...)
		}
		out = append(out, d.Message)
	}
	if err := c.Close(); err != nil {
		return out, broker.Scrub(err, t.Secrets()...)
	}
	return out, nil
}
