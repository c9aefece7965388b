package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

// series is one parsed sample: family name, labels, value.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func (s series) key() string {
	return s.name + labelText(s.labels)
}

func labelText(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// parse reads the text exposition format with the client library's parser,
// as Prometheus would.
func parse(t *testing.T, text string) []series {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	var out []series
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := series{name: name, labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// scrape GETs path from h and returns the status code and body.
func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// metrics scrapes /metrics and keeps mqctl's own series (not go_, process_).
func metrics(t *testing.T, h http.Handler) map[string]series {
	t.Helper()
	code, body := scrape(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	out := map[string]series{}
	for _, s := range parse(t, body) {
		if !strings.HasPrefix(s.name, "mqctl_") {
			continue
		}
		if _, dup := out[s.key()]; dup {
			t.Fatalf("series %s written twice", s.key())
		}
		out[s.key()] = s
	}
	return out
}

// reader is a Reader whose answer the test sets; it stands for the lag
// source, not for a broker.
type reader struct {
	mu   sync.Mutex
	rows []lag.Row
	err  error
}

func (r *reader) set(rows []lag.Row, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows, r.err = rows, err
}

func (r *reader) read(context.Context) ([]lag.Row, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	return slices.Clone(r.rows), nil
}

// deadLetters is a DeadLetterReader whose answer the test sets.
type deadLetters struct {
	mu   sync.Mutex
	dest []broker.DeadLetterDestination
	err  error
}

func (d *deadLetters) set(dest []broker.DeadLetterDestination, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dest, d.err = dest, err
}

func (d *deadLetters) read(context.Context) ([]broker.DeadLetterDestination, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dest), d.err
}

func deadFixture() []broker.DeadLetterDestination {
	return []broker.DeadLetterDestination{
		{Broker: "kafka", Type: "topic", Name: "orders.DLT", Messages: 4, Oldest: time.Unix(1_700_000_000, 0)},
		{Broker: "kafka", Type: "topic", Name: "orders.DLT", Messages: 4}, // twice
		{Broker: "rabbitmq", Type: "queue", Name: "jobs.dlq", Messages: 0},
	}
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func kafkaRow(partition int32, committed, end int64) lag.Row {
	return lag.Row{Broker: lag.BrokerKafka, Kind: lag.KindPartition, Group: "billing", Topic: "orders",
		Partition: partition, Committed: committed, End: end, Lag: end - committed, TimeLag: 3 * time.Second}
}

func queueRow(name string, ready, unacked int64) lag.Row {
	published, delivered, acked := 40+ready, 40-unacked, int64(0)
	return lag.Row{Broker: lag.BrokerRabbitMQ, Kind: lag.KindQueue, Queue: name, Partition: lag.Unknown,
		Committed: lag.Unknown, End: lag.Unknown, Lag: ready + unacked, Ready: ready, Unacked: unacked,
		Consumers: 1, PublishRate: 2.5, DeliverRate: 1, AckRate: 1, DrainTime: time.Minute, Stats: lag.StatsSampled,
		Published: &published, Delivered: &delivered, Acked: &acked}
}

func consumerRow() lag.Row {
	return lag.Row{Broker: lag.BrokerNATS, Kind: lag.KindConsumer, Stream: "LAG", Consumer: "worker",
		Partition: lag.Unknown, Committed: 3, End: 12, Lag: 9, AckPending: 2, Redelivered: 1, Waiting: 1, TimeLag: time.Second,
		LastActive: time.Unix(1_700_000_000, 0)}
}

// fixture is every kind of row, with a duplicate and a queue name that is
// not UTF-8.
func fixture() []lag.Row {
	return []lag.Row{
		kafkaRow(0, 4, 10), kafkaRow(1, 7, 10), kafkaRow(2, 10, 10),
		kafkaRow(0, 4, 10), // the same series twice
		queueRow("jobs", 5, 2), queueRow("bad\xffname", 1, 0),
		consumerRow(),
	}
}

func newTestExporter(clk *clock, samples int, ctxs ...Context) *Exporter {
	return New(Options{Contexts: ctxs, Interval: 15 * time.Second, Timeout: 5 * time.Second, Samples: samples, Now: clk.now})
}

// The lag series a scrape shows are the ones lag -o prometheus writes
// for the same rows, labelled with the context; a failed poll leaves
// mqctl_context_up 0 and none of the context's lag series, while the
// other context stays as it was.
func TestExporterUpDownAndLagAsLagPrometheus(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k, n := &reader{rows: fixture()}, &reader{rows: []lag.Row{consumerRow()}}
	e := newTestExporter(clk, 3, Context{Name: "k", Read: k.read}, Context{Name: "n", Read: n.read})
	h := e.Handler()
	ctx := context.Background()
	e.poll(ctx, e.ctxs[0])
	e.poll(ctx, e.ctxs[1])

	got := metrics(t, h)
	for _, name := range []string{"k", "n"} {
		if s, ok := got[`mqctl_context_up{context=`+name+`}`]; !ok || s.value != 1 {
			t.Errorf("context %s: up %v (present %v), want 1", name, s.value, ok)
		}
	}
	// What lag -o prometheus writes for the same rows.
	rows := fixture()
	for i := range rows {
		rows[i].Context = "k"
	}
	var text bytes.Buffer
	if err := lag.Prometheus(&text, rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, s := range parse(t, text.String()) {
		want[s.key()] = s.value
	}
	if len(want) < 20 {
		t.Fatalf("the fixture yields only %d series: %s", len(want), text.String())
	}
	gotK := map[string]float64{}
	for key, s := range got {
		if s.labels["context"] == "k" && s.labels["broker"] != "" {
			gotK[key] = s.value
		}
	}
	if !maps.Equal(gotK, want) {
		t.Errorf("context k's lag series differ from lag -o prometheus\n got %v\nwant %v", gotK, want)
	}
	// And each family's HELP and TYPE (the queue counters are counters).
	_, body := scrape(t, h, "/metrics")
	for line := range strings.Lines(text.String()) {
		if strings.HasPrefix(line, "# ") && !strings.Contains(body, line) {
			t.Errorf("the scrape lacks lag -o prometheus's %q", line)
		}
	}
	if !strings.Contains(text.String(), "# TYPE mqctl_queue_acked_messages_total counter\n") {
		t.Errorf("the fixture yields no queue counter: %s", text.String())
	}
	if s := got[`mqctl_lag_messages{broker=kafka,context=k,group=billing,partition=0,topic=orders}`]; s.value != 6 {
		t.Errorf("partition 0 lag %v, want 6", s.value)
	}
	if _, ok := got["mqctl_lag_messages{broker=rabbitmq,context=k,queue=bad\uFFFDname}"]; !ok {
		t.Errorf("the queue whose name is not UTF-8 is missing: %v", slices.Sorted(maps.Keys(got)))
	}

	// promhttp serves what it can when gathering fails; the gather itself
	// must not fail (duplicate series, inconsistent families).
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}

	k.set(nil, errors.New("dial tcp 127.0.0.1:1: connection refused"))
	clk.add(15 * time.Second)
	e.poll(ctx, e.ctxs[0])
	got = metrics(t, h)
	if s, ok := got[`mqctl_context_up{context=k}`]; !ok || s.value != 0 {
		t.Errorf("context k after a failed poll: up %v (present %v), want 0", s.value, ok)
	}
	if s := got[`mqctl_poll_errors_total{context=k}`]; s.value != 1 {
		t.Errorf("errors_total %v, want 1", s.value)
	}
	if s := got[`mqctl_last_poll_success_timestamp_seconds{context=k}`]; s.value != 1_800_000_000 {
		t.Errorf("last success %v, want the first poll's time", s.value)
	}
	for key, s := range got {
		if s.labels["context"] == "k" && s.labels["broker"] != "" {
			t.Errorf("context k is down but exports %s", key)
		}
	}
	if s := got[`mqctl_context_up{context=n}`]; s.value != 1 {
		t.Errorf("context n: up %v, want 1", s.value)
	}
	if s := got[`mqctl_lag_messages{broker=nats,consumer=worker,context=n,stream=LAG}`]; s.value != 9 {
		t.Errorf("context n's consumer lag %v, want 9", s.value)
	}

	k.set(fixture(), nil)
	e.poll(ctx, e.ctxs[0])
	if s := metrics(t, h)[`mqctl_lag_messages{broker=kafka,context=k,group=billing,partition=1,topic=orders}`]; s.value != 3 {
		t.Errorf("after the context answered again: partition 1 lag %v, want 3", s.value)
	}
}

// A scrape reads snapshots only: with one context's poll blocked on its
// broker, /metrics and /readyz still answer, and the blocked context is
// reported as not polled rather than waited for.
func TestScrapeDoesNotWaitOnBroker(t *testing.T) {
	release := make(chan struct{})
	blocked := make(chan struct{})
	slow := func(ctx context.Context) ([]lag.Row, error) {
		close(blocked)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("released")
	}
	fast := &reader{rows: []lag.Row{consumerRow()}}
	e := New(Options{Contexts: []Context{{Name: "slow", Read: slow}, {Name: "fast", Read: fast.read}},
		Interval: time.Hour, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() {
		close(release)
		cancel()
		<-done
	}()
	<-blocked
	h := e.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	type answer struct {
		metrics string
		ready   int
	}
	answered := make(chan answer, 1)
	go func() {
		var a answer
		// The fast context's first poll may not be in yet.
		for !strings.Contains(a.metrics, `mqctl_context_up{context="fast"} 1`) {
			_, a.metrics = get("/metrics")
			time.Sleep(10 * time.Millisecond)
		}
		a.ready, _ = get("/readyz")
		answered <- a
	}()
	select {
	case a := <-answered:
		for _, s := range parse(t, a.metrics) {
			if s.labels["context"] == "slow" {
				t.Errorf("the context still polling has a series: %+v", s)
			}
		}
		if a.ready != http.StatusServiceUnavailable {
			t.Errorf("/readyz %d while a context was never polled, want 503", a.ready)
		}
	case <-time.After(time.Minute):
		t.Fatal("a scrape waited on a context whose broker does not answer")
	}
}

// Statuses appear once the window is full, one series per status with
// the current one at 1, once per label set.
func TestStatusSeries(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &reader{rows: []lag.Row{kafkaRow(0, 4, 10), kafkaRow(2, 10, 10), kafkaRow(2, 10, 10)}}
	e := newTestExporter(clk, 2, Context{Name: "k", Read: k.read})
	h := e.Handler()
	e.poll(context.Background(), e.ctxs[0])
	for key := range metrics(t, h) {
		if strings.HasPrefix(key, "mqctl_lag_status") {
			t.Fatalf("a status before the window is full: %s", key)
		}
	}
	clk.add(15 * time.Second)
	e.poll(context.Background(), e.ctxs[0])
	got := metrics(t, h)
	for _, tc := range []struct {
		partition string
		current   lag.Code
	}{{"0", lag.Stall}, {"2", lag.OK}} {
		for _, c := range statusCodes {
			key := `mqctl_lag_status{broker=kafka,context=k,group=billing,partition=` + tc.partition + `,status=` + string(c) + `,topic=orders}`
			s, ok := got[key]
			if want := bool01(c == tc.current); !ok || s.value != want {
				t.Errorf("%s = %v (present %v), want %v", key, s.value, ok, want)
			}
		}
	}
}

// /readyz is 200 while every context answered within interval + timeout,
// 503 with the reason per context otherwise; /healthz is always 200.
func TestReadiness(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &reader{rows: []lag.Row{kafkaRow(0, 4, 10)}}
	e := newTestExporter(clk, 3, Context{Name: "k", Read: k.read})
	h := e.Handler()
	readyz := func() (int, Readiness) {
		t.Helper()
		code, body := scrape(t, h, "/readyz")
		var r Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, r
	}
	if code, body := scrape(t, h, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"UP"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, r := readyz(); code != http.StatusServiceUnavailable || r.Contexts["k"].Error != "not polled yet" {
		t.Errorf("before the first poll: %d %+v", code, r)
	}
	e.poll(context.Background(), e.ctxs[0])
	if code, r := readyz(); code != http.StatusOK || r.Status != "UP" || r.Contexts["k"].Rows != 1 || r.Contexts["k"].LastSuccess == nil {
		t.Errorf("after a poll that answered: %d %+v", code, r)
	}
	clk.add(20 * time.Second) // interval 15s + timeout 5s: still ready
	if code, _ := readyz(); code != http.StatusOK {
		t.Errorf("at interval + timeout: %d, want 200", code)
	}
	clk.add(time.Second)
	if code, r := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(r.Contexts["k"].Error, "no poll answered within 20s") {
		t.Errorf("past interval + timeout: %d %+v", code, r)
	}
	k.set(nil, errors.New("broker down"))
	e.poll(context.Background(), e.ctxs[0])
	if code, r := readyz(); code != http.StatusServiceUnavailable || r.Contexts["k"].Error != "broker down" {
		t.Errorf("after a failed poll: %d %+v", code, r)
	}
}

// A context that could not be resolved is down from the start and never
// polled.
func TestUnresolvedContext(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	e := newTestExporter(clk, 3, Context{Name: "gone", Err: errors.New(`context "gone" does not exist`)})
	h := e.Handler()
	got := metrics(t, h)
	if s, ok := got[`mqctl_context_up{context=gone}`]; !ok || s.value != 0 {
		t.Errorf("up %v (present %v), want 0", s.value, ok)
	}
	code, body := scrape(t, h, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `does not exist`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Run(ctx) // nothing to poll: returns at once
}

// Dead-letter destinations are exported with their depth and, where the
// broker tells it, their oldest message's time; a listing that fails
// fails the poll: up 0 and no series, lag's included.
func TestDeadLetterSeries(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k, d := &reader{rows: []lag.Row{kafkaRow(0, 4, 10)}}, &deadLetters{dest: deadFixture()}
	e := newTestExporter(clk, 3, Context{Name: "k", Read: k.read, DeadLetters: d.read})
	h := e.Handler()
	e.poll(context.Background(), e.ctxs[0])
	got := metrics(t, h)
	for key, want := range map[string]float64{
		`mqctl_dead_letter_messages{broker=kafka,context=k,destination=orders.DLT,type=topic}`:                 4,
		`mqctl_dead_letter_messages{broker=rabbitmq,context=k,destination=jobs.dlq,type=queue}`:                0,
		`mqctl_dead_letter_oldest_timestamp_seconds{broker=kafka,context=k,destination=orders.DLT,type=topic}`: 1_700_000_000,
		`mqctl_lag_messages{broker=kafka,context=k,group=billing,partition=0,topic=orders}`:                    6,
	} {
		if s, ok := got[key]; !ok || s.value != want {
			t.Errorf("%s = %v (present %v), want %v", key, s.value, ok, want)
		}
	}
	if _, ok := got[`mqctl_dead_letter_oldest_timestamp_seconds{broker=rabbitmq,context=k,destination=jobs.dlq,type=queue}`]; ok {
		t.Errorf("an oldest time the broker did not tell is exported")
	}

	d.set(nil, errors.New("dead letters: management API: 503"))
	e.poll(context.Background(), e.ctxs[0])
	got = metrics(t, h)
	if s := got[`mqctl_context_up{context=k}`]; s.value != 0 {
		t.Errorf("up %v after the dead-letter listing failed, want 0", s.value)
	}
	for key, s := range got {
		if s.labels["broker"] != "" {
			t.Errorf("exported while down: %s", key)
		}
	}
	if _, r := scrape(t, h, "/readyz"); !strings.Contains(r, "dead letters: management API: 503") {
		t.Errorf("/readyz does not say why: %s", r)
	}
}

// Destinations are exported with depth, consumers and (where counted)
// messages written; a depth the broker did not report is absent, not 0;
// a listing that fails fails the poll.
func TestDestinationSeries(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	k := &reader{rows: []lag.Row{kafkaRow(0, 4, 10)}}
	var (
		mu    sync.Mutex
		dests = []broker.Destination{
			{Broker: "kafka", Type: "topic", Name: "orders", Messages: 10, Consumers: 1, Written: 25},
			{Broker: "kafka", Type: "topic", Name: "orders", Messages: 10}, // twice
			{Broker: "rabbitmq", Type: "queue", Name: "jobs", Messages: 7, Consumers: 2},
			{Broker: "rabbitmq", Type: "queue", Name: "fresh", Stats: lag.StatsAbsent},
		}
		listErr error
	)
	list := func(context.Context) ([]broker.Destination, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dests), listErr
	}
	e := newTestExporter(clk, 3, Context{Name: "k", Read: k.read, Destinations: list})
	h := e.Handler()
	e.poll(context.Background(), e.ctxs[0])
	got := metrics(t, h)
	for key, want := range map[string]float64{
		`mqctl_destination_messages{broker=kafka,context=k,destination=orders,type=topic}`:               10,
		`mqctl_destination_consumers{broker=kafka,context=k,destination=orders,type=topic}`:              1,
		`mqctl_destination_written_messages_total{broker=kafka,context=k,destination=orders,type=topic}`: 25,
		`mqctl_destination_messages{broker=rabbitmq,context=k,destination=jobs,type=queue}`:              7,
		`mqctl_destination_consumers{broker=rabbitmq,context=k,destination=jobs,type=queue}`:             2,
		`mqctl_destination_consumers{broker=rabbitmq,context=k,destination=fresh,type=queue}`:            0,
	} {
		if s, ok := got[key]; !ok || s.value != want {
			t.Errorf("%s = %v (present %v), want %v", key, s.value, ok, want)
		}
	}
	for _, absent := range []string{
		`mqctl_destination_messages{broker=rabbitmq,context=k,destination=fresh,type=queue}`,
		`mqctl_destination_written_messages_total{broker=rabbitmq,context=k,destination=jobs,type=queue}`,
	} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s is exported", absent)
		}
	}

	mu.Lock()
	listErr = errors.New("destinations: management API: 503")
	mu.Unlock()
	e.poll(context.Background(), e.ctxs[0])
	got = metrics(t, h)
	if s := got[`mqctl_context_up{context=k}`]; s.value != 0 {
		t.Errorf("up %v after the listing failed, want 0", s.value)
	}
	for key, s := range got {
		if s.labels["broker"] != "" {
			t.Errorf("exported while down: %s", key)
		}
	}
}

// A poll's lag, dead letters and destinations share what they read of
// the broker (broker.ShareReads): a read every role makes runs once per
// poll, and again at the next poll.
func TestPollSharesReads(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	reads := 0
	listing := func(ctx context.Context) (int, error) {
		return broker.Shared(ctx, "listing", func() (int, error) { reads++; return reads, nil })
	}
	c := Context{
		Name: "k",
		Read: func(ctx context.Context) ([]lag.Row, error) {
			_, err := listing(ctx)
			return []lag.Row{kafkaRow(0, 4, 10)}, err
		},
		DeadLetters: func(ctx context.Context) ([]broker.DeadLetterDestination, error) {
			_, err := listing(ctx)
			return nil, err
		},
		Destinations: func(ctx context.Context) ([]broker.Destination, error) {
			_, err := listing(ctx)
			return nil, err
		},
	}
	e := newTestExporter(clk, 3, c)
	for poll := 1; poll <= 2; poll++ {
		e.poll(context.Background(), e.ctxs[0])
		if reads != poll {
			t.Fatalf("after poll %d: %d reads of the listing, want one per poll", poll, reads)
		}
	}
}

// A queue the management API has no figures for yet (a broker that
// just restarted) is not caught up: it shows neither lag nor status for
// that poll, and its status picks up where it was once its counts are
// known again, instead of turning OK on a lag of 0 nobody measured.
func TestStatusIgnoresUnknownCounts(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	q := &reader{}
	e := newTestExporter(clk, 3, Context{Name: "r", Read: q.read})
	h := e.Handler()
	const key = `mqctl_lag_status{broker=rabbitmq,context=r,queue=jobs,status=`
	poll := func(row lag.Row) map[string]series {
		q.set([]lag.Row{row}, nil)
		e.poll(context.Background(), e.ctxs[0])
		clk.add(15 * time.Second)
		return metrics(t, h)
	}
	current := func(got map[string]series) string {
		for _, c := range statusCodes {
			if s, ok := got[key+string(c)+`}`]; ok && s.value == 1 {
				return string(c)
			}
		}
		return ""
	}
	for _, ready := range []int64{5, 6} {
		poll(queueRow("jobs", ready, 0))
	}
	if got := current(poll(queueRow("jobs", 7, 0))); got != string(lag.Warn) {
		t.Fatalf("status after lag 5, 6, 7 = %q, want WARN", got)
	}
	absent := queueRow("jobs", 0, 0)
	absent.Stats = lag.StatsAbsent
	got := poll(absent)
	for k := range got {
		if strings.HasPrefix(k, key) || strings.HasPrefix(k, `mqctl_lag_messages{broker=rabbitmq`) {
			t.Errorf("a queue without counts exports %s", k)
		}
	}
	if got := current(poll(queueRow("jobs", 8, 0))); got != string(lag.Warn) {
		t.Errorf("status after lag 6, 7, (unknown), 8 = %q, want WARN", got)
	}
}
