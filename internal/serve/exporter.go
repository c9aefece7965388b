// Package serve is `mqctl serve`: a Prometheus exporter for every context.
//
// Each context is polled on its own goroutine every interval, through the
// same lag source `mqctl lag` reads (internal/lag/source), and the result
// is kept as a snapshot. A scrape only reads snapshots: it never waits on
// a broker. A context whose last poll failed exports mqctl_context_up 0
// and none of its other series, so a dashboard shows a gap, not old
// numbers that look current.
package serve

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqctl/mqctl/internal/lag"
)

// Reader reads one context's lag rows; internal/lag/source.Source's
// ReadTarget is one, bounded by the context's timeout.
type Reader func(ctx context.Context) ([]lag.Row, error)

// Context is one polled context.
type Context struct {
	Name string
	Read Reader // nil when the context could not be resolved (Err says why)
	Err  error
}

// Options configure an Exporter.
type Options struct {
	Contexts []Context
	Interval time.Duration
	// Samples is how many polls the Burrow-style status window holds
	// (as `lag --watch --samples`).
	Samples int
	// Timeout bounds one poll; readiness allows interval + timeout.
	Timeout time.Duration
	Now     func() time.Time
}

// Exporter polls contexts and serves their last snapshots.
type Exporter struct {
	opts Options
	ctxs []*state

	descMu sync.Mutex // Collect may run for several scrapes at once
	descs  map[string]*prometheus.Desc
}

// state is one context's last poll.
type state struct {
	name string
	read Reader

	mu          sync.Mutex
	polled      bool
	up          bool
	err         string
	rows        []lag.Row
	statuses    map[string]lag.Status // by Row.Key
	lastAttempt time.Time
	lastSuccess time.Time
	duration    time.Duration
	errors      uint64
	window      *lag.Window
}

// New returns an exporter over opts; Run starts polling.
func New(opts Options) *Exporter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Exporter{opts: opts, descs: map[string]*prometheus.Desc{}}
	for _, c := range opts.Contexts {
		s := &state{name: c.Name, read: c.Read, window: lag.NewWindow(opts.Samples)}
		if c.Read == nil {
			s.polled, s.err, s.lastAttempt = true, errText(c.Err), opts.Now()
		}
		e.ctxs = append(e.ctxs, s)
	}
	return e
}

// Run polls every context until ctx ends: at once, then every interval.
// A slow context delays only its own next poll.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range e.ctxs {
		if s.read == nil {
			continue
		}
		wg.Go(func() {
			t := time.NewTicker(e.opts.Interval)
			defer t.Stop()
			for {
				e.poll(ctx, s)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
}

// poll reads s once and replaces its snapshot.
func (e *Exporter) poll(ctx context.Context, s *state) {
	start := e.opts.Now()
	pctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	rows, err := s.read(pctx)
	cancel()
	end := e.opts.Now()
	if ctx.Err() != nil {
		return // shutting down: keep the last snapshot
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polled, s.lastAttempt, s.duration = true, end, end.Sub(start)
	if err != nil {
		s.up, s.err, s.rows, s.statuses = false, errText(err), nil, nil
		s.errors++
		return
	}
	for i := range rows {
		rows[i].Context = s.name
	}
	s.window.Observe(end, rows)
	// Rows that left (a deleted group) leave the window after a while.
	s.window.Prune(end.Add(-time.Duration(e.opts.Samples+1) * e.opts.Interval))
	s.up, s.err, s.rows, s.statuses, s.lastSuccess = true, "", rows, s.window.Statuses(), end
}

func errText(err error) string {
	if err == nil {
		return "not polled yet"
	}
	return err.Error()
}

// Status codes exported as mqctl_lag_status{status=...}.
var statusCodes = []lag.Code{lag.OK, lag.Warn, lag.Stall, lag.Stop, lag.Rewind}

var (
	upDesc = prometheus.NewDesc("mqctl_context_up",
		"1 when the context's last poll answered, 0 when it failed; its other series are absent while 0.",
		[]string{"context"}, nil)
	durationDesc = prometheus.NewDesc("mqctl_poll_duration_seconds",
		"How long the context's last poll took.", []string{"context"}, nil)
	errorsDesc = prometheus.NewDesc("mqctl_poll_errors_total",
		"Polls of the context that failed since the exporter started.", []string{"context"}, nil)
	successDesc = prometheus.NewDesc("mqctl_last_poll_success_timestamp_seconds",
		"Unix time of the context's last poll that answered.", []string{"context"}, nil)
	statusDesc = prometheus.NewDesc("mqctl_lag_status",
		"Burrow-style status of the consumer over the last polls (as lag --watch): 1 for the current status, 0 for the others; absent while the window fills.",
		append(append([]string{}, lag.LabelNames...), "status"), nil)
)

// Describe sends nothing: the lag families appear as rows do, so the
// exporter is an unchecked collector.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect writes every context's last snapshot.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	for _, s := range e.ctxs {
		s.mu.Lock()
		up, rows, statuses := s.up, s.rows, s.statuses
		polled, duration, errs, success := s.polled, s.duration, s.errors, s.lastSuccess
		s.mu.Unlock()
		if !polled {
			continue
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, bool01(up), s.name)
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(errs), s.name)
		if s.read != nil {
			ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, duration.Seconds(), s.name)
		}
		if !success.IsZero() {
			ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, float64(success.UnixMilli())/1000, s.name)
		}
		if !up {
			continue
		}
		for _, m := range lag.Metrics(rows) {
			v, err := strconv.ParseFloat(m.Value, 64)
			if err != nil {
				continue // cannot happen: Metrics writes numbers
			}
			ch <- prometheus.MustNewConstMetric(e.desc(m.Family, m.Help), prometheus.GaugeValue, v, lag.LabelValues(m.Row)...)
		}
		for _, r := range rows {
			st := statuses[r.Key()]
			if st.Code == "" {
				continue
			}
			values := lag.LabelValues(r)
			for _, c := range statusCodes {
				ch <- prometheus.MustNewConstMetric(statusDesc, prometheus.GaugeValue, bool01(st.Code == c), append(values, string(c))...)
			}
		}
	}
}

// desc is the family's Desc, made once.
func (e *Exporter) desc(name, help string) *prometheus.Desc {
	e.descMu.Lock()
	defer e.descMu.Unlock()
	d, ok := e.descs[name]
	if !ok {
		d = prometheus.NewDesc(name, help, lag.LabelNames, nil)
		e.descs[name] = d
	}
	return d
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
