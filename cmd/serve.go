package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/serve"
)

// ServeOptions is what `mqctl serve` needs once its flags are parsed.
type ServeOptions struct {
	IO          *output.Streams
	Ctx         context.Context
	Listen      string
	Interval    time.Duration
	Samples     int
	AllContexts bool
	TimeLag     bool
	DeadLetters bool
	Dests       bool
	f           *Factory
}

// NewCmdServe builds `mqctl serve`; runF, when given, receives the options
// instead of the run.
func NewCmdServe(f *Factory, runF func(*ServeOptions) error) *cobra.Command {
	o := &ServeOptions{f: f, IO: f.IO}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Prometheus exporter of lag and queue depth for every context, with health endpoints",
		Long: `serve runs an HTTP server until SIGINT or SIGTERM (then it stops gracefully and exits 0):

  /metrics  Prometheus metrics: the series of 'lag -o prometheus' per context (Kafka group,
            topic and partition; RabbitMQ queue ready, unacked, consumers, rates and
            published/delivered/acked counters; JetStream consumer),
            mqctl_lag_status{status=OK|WARN|STALL|STOP|REWIND} judged as
            'lag --watch' does over --samples polls, mqctl_dead_letter_messages and
            mqctl_dead_letter_oldest_timestamp_seconds per dead-letter destination
            'dlq ls' finds, mqctl_destination_messages, _consumers and
            _written_messages_total per topic, queue and stream 'ls' lists, and per
            context mqctl_context_up, mqctl_context_lag_available,
            mqctl_poll_duration_seconds, mqctl_poll_errors_total and
            mqctl_last_poll_success_timestamp_seconds
  /healthz  200 while the process runs
  /readyz   200 when every context answered within the last --interval plus --timeout,
            503 otherwise; JSON detail per context either way

Each context (-c a,b or --all-contexts; the current context by default) is polled every
--interval in the background, each poll bounded by --timeout; a scrape never waits on a broker.
A context whose last poll failed exports mqctl_context_up 0 and none of its lag series, so
graphs show a gap rather than numbers that look current; its connection is opened anew at the
next poll. A broker that answers with nothing to list by its setup (NATS without JetStream) is
up, with no lag series and mqctl_context_lag_available 0; /readyz says why in a note. A target
given by --url or the environment alone is labelled context="default".

--listen is loopback by default; give ':9308' to listen on every interface.`,
		Example: `  mqctl serve                                     # the current context on 127.0.0.1:9308
  mqctl serve --all-contexts --listen :9308 --interval 30s
  mqctl serve -c prod-kafka,prod-rabbit --time-lag`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ctx = cmd.Context()
			if err := o.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return serveRun(o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:9308", "address to listen on, host:port (':9308' for every interface)")
	fl.DurationVar(&o.Interval, "interval", 15*time.Second, "time between polls of each context")
	fl.IntVar(&o.Samples, "samples", 5, "polls in the window mqctl_lag_status is judged over")
	fl.BoolVar(&o.AllContexts, "all-contexts", false, "every context in the config file")
	fl.BoolVar(&o.DeadLetters, "dead-letters", true, "export the depth of every dead-letter queue, topic and stream (as dlq ls finds them); --dead-letters=false skips the listing")
	fl.BoolVar(&o.Dests, "destinations", true, "export the depth, consumers and messages written of every topic, queue and stream (as ls lists them); --destinations=false skips the listing")
	fl.BoolVar(&o.TimeLag, "time-lag", false, "export mqctl_lag_seconds where known (see lag --help); Kafka: a fetch per partition leader per poll")
	return c
}

// check refuses flags that cannot work, before any connection.
func (o *ServeOptions) check() error {
	switch {
	case o.Interval < 100*time.Millisecond:
		return mqerr.Usagef("--interval %s: at least 100ms", o.Interval)
	case o.Samples < 2:
		return mqerr.Usagef("--samples %d: at least 2 (a status compares polls)", o.Samples)
	case o.AllContexts && o.f.Global.Context != "":
		return mqerr.Usagef("--all-contexts and -c exclude each other")
	case (o.AllContexts || strings.Contains(o.f.Global.Context, ",")) && o.f.Global.URL != "":
		return mqerr.Usagef("--url names one broker: with -c a,b or --all-contexts each context uses its own URL")
	}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return mqerr.Usagef("--listen %q: want host:port such as 127.0.0.1:9308 or :9308", o.Listen)
	}
	if port == "" || strings.ContainsAny(host+port, "/ ") {
		return mqerr.Usagef("--listen %q: want host:port such as 127.0.0.1:9308 or :9308", o.Listen)
	}
	return nil
}

// pollStopGrace is how long a stop waits for the polls in flight.
const pollStopGrace = time.Second

func serveRun(o *ServeOptions) error {
	ctx, f := o.Ctx, o.f
	targets, unresolved, multi, err := lagTargets(f, o.AllContexts)
	if err != nil {
		return err
	}
	src := source.New(source.Config{Targets: targets, Unresolved: unresolved, Multi: multi,
		Query: broker.LagQuery{TimeLag: o.TimeLag}, TimeLagFlag: "--time-lag", Warnf: f.Warnf})
	defer src.Close()

	ctxs, timeout, err := serve.FromSource(src, unresolved, serve.SourceConfig{
		Interval: o.Interval, DeadLetters: o.DeadLetters, Destinations: o.Dests, Warnf: f.Warnf, Logf: f.Logf, Err: f.IO.Err,
	})
	if err != nil {
		return err
	}
	// Listen before the first poll: a bad --listen fails at once.
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return mqerr.Usagef("--listen %s: %v", o.Listen, err)
	}
	if o.TimeLag {
		// Lets each driver refuse time lag: one context that refuses is a
		// usage error, among several it is named on stderr.
		if err := src.Prepare(ctx); err != nil {
			ln.Close()
			return err
		}
	}
	exp := serve.New(serve.Options{Contexts: ctxs, Interval: o.Interval, Timeout: timeout, Samples: o.Samples})
	srv := &http.Server{Handler: exp.Handler(), ReadHeaderTimeout: 10 * time.Second}

	pollCtx, stopPolls := context.WithCancel(ctx)
	defer stopPolls()
	var polls sync.WaitGroup
	polls.Go(func() { exp.Run(pollCtx) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	names := make([]string, len(ctxs))
	for i, c := range ctxs {
		names[i] = c.Name
	}
	output.ErrLine(f.IO.Err, "", fmt.Sprintf("serving /metrics, /healthz and /readyz on http://%s for %s (every %s, timeout %s)",
		ln.Addr(), strings.Join(names, ", "), o.Interval, timeout))

	select {
	case err = <-served:
		// The listener failed under us: nothing to shut down but the polls.
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		if err == nil {
			err = <-served
		}
	}
	stopPolls()
	// Polls have nothing to flush, so a poll that does not end at once
	// must not hold the stop. Connecting now heeds cancellation on every
	// broker (a hung Kafka address ends at once, not at --timeout);
	// what can still hold a poll is kgo's handshake on a connection to a
	// further Kafka broker, opened after the connect, which ignores the
	// poll's context until --timeout.
	pollsDone := make(chan struct{})
	go func() { polls.Wait(); close(pollsDone) }()
	select {
	case <-pollsDone:
	case <-time.After(pollStopGrace):
		f.Logf(1, "a poll is still in flight after %s; stopping without it", pollStopGrace)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serve on %s: %w", o.Listen, err)
	}
	output.ErrLine(f.IO.Err, "", "stopped")
	return nil
}
