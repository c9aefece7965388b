package serve

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/consume"
)

// ConsumerOptions configure the health and metrics of `consume --exec
// --serve`.
type ConsumerOptions struct {
	// Stats are the run's counts, exported as they are.
	Stats *consume.Stats
	// StallAfter is how long the run may go without polling the broker
	// (waiting for or receiving a delivery) before it is DOWN: a handler
	// that hangs holds the run back from polling.
	StallAfter time.Duration
	// ProbeDownAfter is how old the last answered broker probe may be
	// before the broker is DOWN even without a failed probe (a probe that
	// hangs).
	ProbeDownAfter time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Consumer is the health and metrics of one `consume --exec` run. It
// implements consume.Observer.
type Consumer struct {
	o ConsumerOptions

	// waiting: the run is in Next; lastPoll: unix nanoseconds of the
	// last time it was.
	waiting  atomic.Bool
	lastPoll atomic.Int64

	retried  atomic.Int64
	duration *prometheus.HistogramVec
	// assignment is the run's consumer when its broker assigns it parts
	// of the source (Kafka partitions).
	assignment atomic.Pointer[broker.Assignment]

	mu        sync.Mutex
	probed    bool
	probeAt   time.Time // last probe that answered
	probeErr  string    // "" when the last probe answered
	probeTime time.Time // last probe, answered or not
	lag       *int64
}

// NewConsumer starts counting as polling now.
func NewConsumer(o ConsumerOptions) *Consumer {
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Consumer{o: o}
	c.lastPoll.Store(o.Now().UnixNano())
	c.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mqctl_consume_handler_duration_seconds",
		Help:    "Time one handler run took, by outcome (ok or failed).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"outcome"})
	return c
}

// Polling implements consume.Observer.
func (c *Consumer) Polling(waiting bool) {
	c.waiting.Store(waiting)
	c.lastPoll.Store(c.o.Now().UnixNano())
}

// HandlerRan implements consume.Observer.
func (c *Consumer) HandlerRan(attempt int, took time.Duration, err error) {
	if attempt > 1 {
		c.retried.Add(1)
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	c.duration.WithLabelValues(outcome).Observe(took.Seconds())
}

// Watch implements consume.ConsumerWatcher: /healthz reports the
// partitions a consumer holds where its broker assigns them.
func (c *Consumer) Watch(cons broker.Consumer) {
	if a, ok := cons.(broker.Assignment); ok {
		c.assignment.Store(&a)
	}
}

// Probed records a check of the broker: the consumer's lag when the
// broker reports one (nil otherwise), or the reason it did not answer.
func (c *Consumer) Probed(lag *int64, err error) {
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probed, c.probeTime = true, now
	if err != nil {
		c.probeErr = err.Error()
		return
	}
	c.probeErr, c.probeAt, c.lag = "", now, lag
}

// Health is /healthz's body, in the style of Spring Boot's actuator.
type Health struct {
	Status     string               `json:"status"` // UP or DOWN
	Components map[string]Component `json:"components"`
}

// Component is one part of Health.
type Component struct {
	Status  string         `json:"status"`
	Details map[string]any `json:"details"`
}

// Health reports the consumer DOWN when it has not polled the broker for
// StallAfter, and the broker DOWN when its last probe failed or none
// answered for ProbeDownAfter. Either makes the whole DOWN.
func (c *Consumer) Health() Health {
	now := c.o.Now()
	last := time.Unix(0, c.lastPoll.Load())
	if c.waiting.Load() {
		last = now
	}
	st := c.o.Stats
	cons := Component{Status: "UP", Details: map[string]any{
		"last_poll":     last.UTC().Format(time.RFC3339),
		"handled":       st.Handled.Load(),
		"failed":        st.Failed.Load(),
		"retried":       c.retried.Load(),
		"dead_lettered": st.DeadLettered.Load(),
	}}
	if a := c.assignment.Load(); a != nil {
		cons.Details["partitions"] = (*a).Assigned()
	}
	if idle := now.Sub(last); idle > c.o.StallAfter {
		cons.Status = "DOWN"
		cons.Details["error"] = "no poll of the broker for " + idle.Round(time.Second).String() + " (bound " + c.o.StallAfter.String() + "): a handler may hang"
	}
	c.mu.Lock()
	br := Component{Status: "UP", Details: map[string]any{}}
	if c.probed {
		br.Details["last_check"] = c.probeTime.UTC().Format(time.RFC3339)
	}
	switch {
	case c.probeErr != "":
		br.Status, br.Details["error"] = "DOWN", c.probeErr
	case c.probed && now.Sub(c.probeAt) > c.o.ProbeDownAfter:
		br.Status, br.Details["error"] = "DOWN", "no answer from the broker for "+now.Sub(c.probeAt).Round(time.Second).String()
	}
	if c.lag != nil && c.probeErr == "" {
		cons.Details["lag"] = *c.lag
	}
	c.mu.Unlock()
	h := Health{Status: "UP", Components: map[string]Component{"consumer": cons, "broker": br}}
	if cons.Status != "UP" || br.Status != "UP" {
		h.Status = "DOWN"
	}
	return h
}

// Handler serves /healthz (200 UP, 503 DOWN) and /metrics.
func (c *Consumer) Handler() http.Handler {
	st := c.o.Stats
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		counter("mqctl_consume_read_total", "Deliveries read from the broker.", &st.Read),
		counter("mqctl_consume_handled_total", "Messages whose handler succeeded (then acked).", &st.Handled),
		counter("mqctl_consume_failed_total", "Messages whose handler failed every try (then --on-fail).", &st.Failed),
		counter("mqctl_consume_dead_lettered_total", "Failed messages published to the --on-fail dead-letter destination.", &st.DeadLettered),
		counter("mqctl_consume_acked_total", "Deliveries acked (Kafka: marked for commit).", &st.Acked),
		counter("mqctl_consume_requeued_total", "Deliveries nacked for redelivery (Kafka: left uncommitted).", &st.Requeued),
		counter("mqctl_consume_settle_errors_total", "Acks and nacks the broker did not take.", &st.SettleErrors),
		counter("mqctl_consume_given_back_total", "Deliveries not handled as what they came on was gone: the broker delivers them again.", &st.GivenBack),
		counter("mqctl_consume_retried_total", "Handler runs that retried a failed one.", &c.retried),
		c.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqctl_consume_last_poll_timestamp_seconds",
			Help: "When the run last waited for or received a delivery (now while it waits).",
		}, func() float64 {
			if c.waiting.Load() {
				return float64(c.o.Now().UnixNano()) / 1e9
			}
			return float64(c.lastPoll.Load()) / 1e9
		}),
		c.lagCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := c.Health()
		code := http.StatusOK
		if h.Status != "UP" {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	return mux
}

var lagDesc = prometheus.NewDesc("mqctl_consume_lag",
	"Messages waiting for this consumer as the broker last reported them (Kafka group lag, RabbitMQ ready + unacked, JetStream pending); absent when unknown or the broker did not answer.",
	nil, nil)

// lagCollector exports the probed lag while it is known and current.
func (c *Consumer) lagCollector() prometheus.Collector { return lagCollector{c} }

type lagCollector struct{ c *Consumer }

func (l lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (l lagCollector) Collect(ch chan<- prometheus.Metric) {
	l.c.mu.Lock()
	lag, ok := l.c.lag, l.c.probeErr == ""
	l.c.mu.Unlock()
	if lag != nil && ok {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(*lag))
	}
}

// RunProbe calls probe every interval until ctx ends, first at once,
// recording each outcome; probe returns the lag when the broker reports
// one.
func (c *Consumer) RunProbe(ctx context.Context, interval time.Duration, probe func(context.Context) (*int64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		lag, err := probe(ctx)
		if ctx.Err() != nil {
			return
		}
		c.Probed(lag, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
