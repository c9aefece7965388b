// Package serve is `mqctl serve`: a Prometheus exporter for every context.
//
// Each context is polled on its own goroutine every interval, through the
// same lag source `mqctl lag` reads (internal/lag/source), and the result
// is kept as a snapshot. A scrape only reads snapshots: it never waits on
// a broker. A context whose last poll failed exports mqctl_context_up 0
// and none of its lag or dead-letter series, so a dashboard shows a gap,
// not old numbers that look current; only the poll's own bookkeeping
// (errors, duration, last success) stays.
//
// A context whose broker answers but has nothing to list by its setup
// (NATS without JetStream: source.EmptyBySetupError) is up, with no lag
// or dead-letter series and mqctl_context_lag_available 0; /readyz says
// why in its note.
package serve

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
)

// Reader reads one context's lag rows; internal/lag/source.Source's
// ReadTarget is one, bounded by the context's timeout. A broker that
// answers with nothing to list by its setup is a
// *source.EmptyBySetupError, not a failure.
type Reader func(ctx context.Context) ([]lag.Row, error)

// DeadLetterReader lists one context's dead-letter destinations with
// their depth (broker.DeadLetters).
type DeadLetterReader func(ctx context.Context) ([]broker.DeadLetterDestination, error)

// DestinationReader lists one context's topics, queues and streams with
// their depth (broker.Lister).
type DestinationReader func(ctx context.Context) ([]broker.Destination, error)

// Context is one polled context.
type Context struct {
	Name string
	Read Reader // nil when the context could not be resolved (Err says why)
	// DeadLetters and Destinations, when not nil, are read after Read in
	// the same poll; their failure fails the poll, as Read's does.
	DeadLetters  DeadLetterReader
	Destinations DestinationReader
	Err          error
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

	descMu sync.Mutex                  // the contexts' poll goroutines share descs
	descs  map[string]*prometheus.Desc // by family and label names
}

// state is one context's last poll.
type state struct {
	name  string
	read  Reader
	dead  DeadLetterReader
	dests DestinationReader

	mu          sync.Mutex
	polled      bool
	up          bool
	err         string
	unavailable string // why the broker, though it answered, has no lag rows by its setup; "" if it can
	rows        int
	series      []prometheus.Metric // the lag and status samples of the last answer
	lastAttempt time.Time
	lastSuccess time.Time
	duration    time.Duration
	errors      uint64
	window      *lag.Window // owned by the context's poll goroutine
}

// New returns an exporter over opts; Run starts polling. An Interval,
// Timeout or Samples that is not positive means 15s, 10s and 5.
func New(opts Options) *Exporter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Samples <= 0 {
		opts.Samples = 5
	}
	e := &Exporter{opts: opts, descs: map[string]*prometheus.Desc{}}
	for _, c := range opts.Contexts {
		// client_golang refuses a label value that is not UTF-8.
		s := &state{name: strings.ToValidUTF8(c.Name, "\uFFFD"), read: c.Read, dead: c.DeadLetters, dests: c.Destinations, err: errText(nil), window: lag.NewWindow(opts.Samples)}
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

// poll reads s once and replaces its snapshot. The samples are built
// here, on the context's own goroutine, so a scrape only copies them.
func (e *Exporter) poll(ctx context.Context, s *state) {
	start := e.opts.Now()
	// The lag, dead letters and destinations of one poll share what
	// they read of the broker (broker.ShareReads).
	pctx, cancel := context.WithTimeout(broker.ShareReads(ctx), e.opts.Timeout)
	rows, err := s.read(pctx)
	unavailable := ""
	if empty, ok := errors.AsType[*source.EmptyBySetupError](err); ok {
		// It answered. Nothing to list by its setup means no dead letters
		// either (dlq ls fails with the same error), so they are not read.
		unavailable, rows, err = empty.Error(), nil, nil
	}
	var dead []broker.DeadLetterDestination
	if err == nil && unavailable == "" && s.dead != nil {
		dead, err = s.dead(pctx)
	}
	var dests []broker.Destination
	if err == nil && s.dests != nil {
		dests, err = s.dests(pctx)
	}
	cancel()
	end := e.opts.Now()
	if ctx.Err() != nil {
		return // shutting down: keep the last snapshot
	}
	var series []prometheus.Metric
	if err == nil {
		rows = dedupe(rows, s.name)
		// A queue without management figures adds no sample (Observe),
		// and shows no status until its counts are known again.
		s.window.Observe(end, rows)
		// Rows that left (a deleted group) leave the window after a while.
		s.window.Prune(end.Add(-time.Duration(e.opts.Samples+1) * e.opts.Interval))
		series = append(e.samples(rows, s.window.Statuses()), e.deadLetterSamples(s.name, dead)...)
		series = append(series, destinationSamples(s.name, dests)...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polled, s.lastAttempt, s.duration = true, end, end.Sub(start)
	if err != nil {
		s.up, s.err, s.rows, s.series, s.unavailable = false, errText(err), 0, nil, ""
		s.errors++
		return
	}
	s.up, s.err, s.rows, s.series, s.lastSuccess, s.unavailable = true, "", len(rows), series, end, unavailable
}

// samples are rows' lag gauges and counters (as lag -o prometheus writes
// them) and their statuses, one series per label set.
func (e *Exporter) samples(rows []lag.Row, statuses map[string]lag.Status) []prometheus.Metric {
	var out []prometheus.Metric
	add := func(family, help string, t prometheus.ValueType, v float64, names, values []string) {
		if m, err := prometheus.NewConstMetric(e.desc(family, help, names), t, v, values...); err == nil {
			out = append(out, m)
		}
	}
	for _, m := range lag.Metrics(rows) {
		v, err := strconv.ParseFloat(m.Value, 64)
		if err != nil {
			continue // cannot happen: Metrics writes numbers
		}
		t := prometheus.GaugeValue
		if m.Type == "counter" {
			t = prometheus.CounterValue
		}
		names, values := labels(m.Row)
		add(m.Family, m.Help, t, v, names, values)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		st := statuses[r.Key()]
		names, values := labels(r)
		key := strings.Join(names, ",") + "\xff" + strings.Join(values, "\xff")
		if st.Code == "" || !r.CountsKnown() || seen[key] {
			continue // no verdict yet, counts unknown now, or a duplicate Metrics also left out
		}
		seen[key] = true
		names = append(names, "status")
		for _, c := range statusCodes {
			add(statusName, statusHelp, prometheus.GaugeValue, bool01(st.Code == c), names, append(values, string(c)))
		}
	}
	return out
}

// deadLetterSamples are the depth and oldest message time of each
// dead-letter destination, once per destination.
func (e *Exporter) deadLetterSamples(name string, dead []broker.DeadLetterDestination) []prometheus.Metric {
	var out []prometheus.Metric
	seen := destinationSet{}
	for _, d := range dead {
		values, first := seen.add(d.Broker, name, d.Name, d.Type)
		if !first {
			continue
		}
		if m, err := prometheus.NewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(d.Messages), values...); err == nil {
			out = append(out, m)
		}
		if d.Oldest.IsZero() {
			continue
		}
		if m, err := prometheus.NewConstMetric(deadLetterOldestDesc, prometheus.GaugeValue, float64(d.Oldest.UnixMilli())/1000, values...); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// destinationSamples are the depth, consumers and messages ever written
// of each destination, once per destination. A depth the broker did not
// report (RabbitMQ before its first stats sample) is left out, not 0;
// written only where the broker counts it (topics, streams).
func destinationSamples(name string, dests []broker.Destination) []prometheus.Metric {
	var out []prometheus.Metric
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, values []string) {
		if m, err := prometheus.NewConstMetric(d, t, v, values...); err == nil {
			out = append(out, m)
		}
	}
	seen := destinationSet{}
	for _, d := range dests {
		values, first := seen.add(d.Broker, name, d.Name, d.Type)
		if !first {
			continue
		}
		if d.Stats != lag.StatsAbsent {
			add(destinationMessagesDesc, prometheus.GaugeValue, float64(d.Messages), values)
		}
		add(destinationConsumersDesc, prometheus.GaugeValue, float64(d.Consumers), values)
		if d.Written > 0 {
			add(destinationWrittenDesc, prometheus.CounterValue, float64(d.Written), values)
		}
	}
	return out
}

// destinationSet keeps the first of destinations listed twice (a
// duplicate series would fail the scrape).
type destinationSet map[string]bool

// add returns the label values of a destination series (deadLetterLabels'
// order), made valid UTF-8 as client_golang requires, and whether they
// are new to the set.
func (s destinationSet) add(brokerName, context, name, typ string) (values []string, first bool) {
	values = []string{brokerName, context, name, typ}
	for i, v := range values {
		values[i] = strings.ToValidUTF8(v, "\uFFFD")
	}
	key := strings.Join(values, "\xff")
	if s[key] {
		return values, false
	}
	s[key] = true
	return values, true
}

// labels are r's non-empty lag labels, as lag -o prometheus writes them
// (Prometheus treats an empty label as absent), values made valid UTF-8,
// which client_golang requires (a queue name is any bytes).
func labels(r lag.Row) (names, values []string) {
	for i, v := range lag.LabelValues(r) {
		if v != "" {
			names = append(names, lag.LabelNames[i])
			values = append(values, strings.ToValidUTF8(v, "\uFFFD"))
		}
	}
	return names, values
}

// dedupe labels rows with the context name and keeps the first of rows with the
// same key: a second would add a second sample to the window in one poll,
// and would be a duplicate series, which lag.Metrics also leaves out.
func dedupe(rows []lag.Row, name string) []lag.Row {
	seen := make(map[string]bool, len(rows))
	out := rows[:0]
	for _, r := range rows {
		r.Context = name
		if k := r.Key(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
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
		"1 when the context's last poll answered, 0 when it failed; its lag and dead-letter series are absent while 0.",
		[]string{"context"}, nil)
	durationDesc = prometheus.NewDesc("mqctl_poll_duration_seconds",
		"How long the context's last poll took.", []string{"context"}, nil)
	errorsDesc = prometheus.NewDesc("mqctl_poll_errors_total",
		"Polls of the context that failed since the exporter started.", []string{"context"}, nil)
	successDesc = prometheus.NewDesc("mqctl_last_poll_success_timestamp_seconds",
		"Unix time of the context's last poll that answered.", []string{"context"}, nil)
	lagAvailableDesc = prometheus.NewDesc("mqctl_context_lag_available",
		"1 when the context's broker can have lag series by its setup, 0 when it answers but cannot (NATS without JetStream: no streams or consumers; /readyz says why); absent while mqctl_context_up is 0.",
		[]string{"context"}, nil)
)

// deadLetterLabels are the labels of the dead-letter series.
var deadLetterLabels = []string{"broker", "context", "destination", "type"}

var (
	deadLetterDesc = prometheus.NewDesc("mqctl_dead_letter_messages",
		"Messages in the dead-letter destination (as dlq ls counts them).", deadLetterLabels, nil)
	deadLetterOldestDesc = prometheus.NewDesc("mqctl_dead_letter_oldest_timestamp_seconds",
		"Unix time of the oldest message in the dead-letter destination, where the broker tells it.", deadLetterLabels, nil)
)

var (
	destinationMessagesDesc = prometheus.NewDesc("mqctl_destination_messages",
		"Messages in the topic, queue or stream (as ls counts them).", deadLetterLabels, nil)
	destinationConsumersDesc = prometheus.NewDesc("mqctl_destination_consumers",
		"Consumers of the destination (as ls counts them).", deadLetterLabels, nil)
	destinationWrittenDesc = prometheus.NewDesc("mqctl_destination_written_messages_total",
		"Messages ever appended to the topic (sum of partition end offsets) or stream (last sequence); rate() of it is the in rate.", deadLetterLabels, nil)
)

const (
	statusName = "mqctl_lag_status"
	statusHelp = "Burrow-style status of the consumer over the last polls (as lag --watch): 1 for the current status, 0 for the others; absent while the window fills."
)

// Describe sends nothing: the lag families appear as rows do, so the
// exporter is an unchecked collector.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect writes every context's last snapshot; it never reads a broker.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	for _, s := range e.ctxs {
		s.mu.Lock()
		up, series, unavailable := s.up, s.series, s.unavailable
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
		ch <- prometheus.MustNewConstMetric(lagAvailableDesc, prometheus.GaugeValue, bool01(unavailable == ""), s.name)
		for _, m := range series {
			ch <- m
		}
	}
}

// desc is the Desc of the family with these label names, made once: a
// Kafka partition, a queue and a JetStream consumer have different labels.
func (e *Exporter) desc(name, help string, labels []string) *prometheus.Desc {
	key := name + "{" + strings.Join(labels, ",")
	e.descMu.Lock()
	defer e.descMu.Unlock()
	d, ok := e.descs[key]
	if !ok {
		d = prometheus.NewDesc(name, help, labels, nil)
		e.descs[key] = d
	}
	return d
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
