package dlq

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/tracecontext"
)

// ReadStats adds the dead letters c delivers to st, read as every dlq
// command reads them, until it has limit (0: no limit) or c is exhausted;
// the error is c's, ctx's, or the one of following an advisory.
// Advisories are followed to their messages by followers round trips at a
// time, each of which needs only the decoded origin, so deliveries are
// never read off the reading goroutine.
func ReadStats(ctx context.Context, c broker.Consumer, src *Source, st *Stats, limit int) error {
	const followers = 16
	type job struct {
		origin Origin
		died   time.Time
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  error
	)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job)
	get := src.Getter()
	for range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				dead, err := Follow(fctx, Dead{Origin: j.origin}, get)
				if err != nil && !mqerr.Is(err, mqerr.Usage) {
					errOnce.Do(func() { failed = err; cancel() })
					continue
				}
				mu.Lock()
				st.Add(dead.Origin, j.died)
				mu.Unlock()
			}
		}()
	}
	var readErr error
	for n := 0; limit == 0 || n < limit; n++ {
		d, err := c.Next(fctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		o := DecodeOrigin(src.Broker(), &d.Message)
		j := job{origin: o, died: DeathTime(&d.Message, o)}
		if o.Convention != ConventionAdvisory {
			mu.Lock()
			st.Add(j.origin, j.died)
			mu.Unlock()
			continue
		}
		select {
		case jobs <- j:
		case <-fctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		return failed
	}
	return readErr
}

// sampleTimeout bounds the read of a sample: whatever came in time.
const sampleTimeout = 5 * time.Second

// SampleReasons reads up to n dead letters of src without side effects
// (as far as the broker allows) and returns their stats. A failure is a
// warning (src.Logf): a sample is whatever could be read.
func SampleReasons(ctx context.Context, src *Source, n int) *Stats {
	st := NewStats(time.Now())
	c, err := src.Consumer(ctx, ReadPeek, "", n)
	if err != nil {
		src.Logf("reading %s for reasons: %v", src.Name, broker.Scrub(err, src.Target.Secrets()...))
		return st
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	if err := ReadStats(rctx, c, src, st, n); err != nil && rctx.Err() == nil {
		src.Logf("reading %s for reasons: %v", src.Name, broker.Scrub(err, src.Target.Secrets()...))
	}
	return st
}

// PeekItem is one dead letter as `dlq peek` shows it.
type PeekItem struct {
	Message envelope.Envelope `json:"message" yaml:"message"`
	Origin  Origin            `json:"origin" yaml:"origin"`
	// Original is the message a JetStream advisory points to; Gone says
	// limits removed it.
	Original *envelope.Envelope `json:"original,omitempty" yaml:"original,omitempty"`
	Gone     bool               `json:"original_gone,omitempty" yaml:"original_gone,omitempty"`
}

// Peek reads the first n dead letters of src without consuming them and
// decodes each; an advisory is followed to its message. It stops early,
// without an error, when ctx ends. n is at least 1.
func Peek(ctx context.Context, src *Source, n int) ([]PeekItem, error) {
	if err := src.CheckHeld("count", n); err != nil {
		return nil, err
	}
	c, err := src.Consumer(ctx, ReadPeek, "", n)
	if err != nil {
		return nil, err
	}
	get := src.Getter()
	var items []PeekItem
	for len(items) < n {
		d, err := c.Next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			break
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		dead, err := Inspect(ctx, src.Broker(), &d.Message, get)
		if err != nil {
			src.Logf("%s: %v", d.Where(), err)
		}
		it := PeekItem{Message: envelope.FromMessage(src.Broker(), &d.Message), Origin: dead.Origin, Gone: dead.Gone}
		if dead.Message != nil && dead.Message != &d.Message {
			// Read through the same connection's getter.
			e := envelope.FromMessage(src.Broker(), dead.Message)
			it.Original = &e
			if it.Origin.TraceID == "" {
				// An advisory has no headers; the message it names may.
				it.Origin.TraceID = tracecontext.TraceID(dead.Message.Headers)
			}
		}
		items = append(items, it)
	}
	if err := c.Close(); err != nil {
		return nil, err
	}
	return items, nil
}

// StatsReport is `dlq stats` as data.
type StatsReport struct {
	Source  string `json:"source" yaml:"source"`
	Total   int64  `json:"total" yaml:"total"`
	Sampled bool   `json:"sampled,omitempty" yaml:"sampled,omitempty"`
	// Depth is the source's message count when only a sample was read.
	Depth        int64     `json:"depth,omitempty" yaml:"depth,omitempty"`
	Oldest       time.Time `json:"oldest,omitzero" yaml:"oldest,omitempty"`
	Newest       time.Time `json:"newest,omitzero" yaml:"newest,omitempty"`
	Reasons      []Count   `json:"reasons" yaml:"reasons"`
	Destinations []Count   `json:"destinations" yaml:"destinations"`
	Exceptions   []Count   `json:"exceptions,omitempty" yaml:"exceptions,omitempty"`
	Ages         []Bucket  `json:"ages" yaml:"ages"`
}

// Report reads every dead letter src holds, or at most sample where a
// read holds what it reads (Capabilities.PeekHolds), and counts them.
func Report(ctx context.Context, src *Source, sample int) (StatsReport, error) {
	limit, prefetch := 0, 1000
	if src.Caps.PeekHolds {
		limit, prefetch = sample, sample
	}
	rep := StatsReport{Source: src.Name}
	c, err := src.Consumer(ctx, ReadPeek, "", prefetch)
	if err != nil {
		return rep, err
	}
	st := NewStats(time.Now())
	if err := ReadStats(ctx, c, src, st, limit); err != nil && ctx.Err() == nil {
		c.Close()
		return rep, err
	}
	if err := c.Close(); err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		return rep, mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	rep.Sampled = limit > 0 && int(st.Total) >= limit
	rep.Total, rep.Oldest, rep.Newest = st.Total, st.Oldest(), st.Newest()
	rep.Reasons, rep.Destinations, rep.Exceptions, rep.Ages = st.Reasons.Top(10), st.Destinations.Top(10), st.Exceptions.Top(10), st.Ages()
	if rep.Sampled {
		rep.Depth = src.Depth(ctx)
	}
	return rep, nil
}

// CheckDepth is the number a --check of the report judges: what was
// read, or the depth when only a sample was.
func (r StatsReport) CheckDepth() Depth {
	return Depth{Name: r.Source, Messages: max(r.Total, r.Depth)}
}
