package cmd

import (
	"cmp"
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
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/serve"
)

// defaultContextLabel names the target of flags and environment alone
// (no context) in the context label, which Prometheus needs non-empty to
// tell its series from another's.
const defaultContextLabel = "default"

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
            topic and partition; RabbitMQ queue ready, unacked, consumers and rates; JetStream
            consumer), mqctl_lag_status{status=OK|WARN|STALL|STOP|REWIND} judged as
            'lag --watch' does over --samples polls, mqctl_dead_letter_messages and
            mqctl_dead_letter_oldest_timestamp_seconds per dead-letter destination
            'dlq ls' finds, and per context mqctl_context_up,
            mqctl_poll_duration_seconds, mqctl_poll_errors_total and
            mqctl_last_poll_success_timestamp_seconds
  /healthz  200 while the process runs
  /readyz   200 when every context answered within the last --interval plus --timeout,
            503 otherwise; JSON detail per context either way

Each context (-c a,b or --all-contexts; the current context by default) is polled every
--interval in the background, each poll bounded by --timeout; a scrape never waits on a broker.
A context whose last poll failed exports mqctl_context_up 0 and none of its lag series, so
graphs show a gap rather than numbers that look current; its connection is opened anew at the
next poll. A target given by --url or the environment alone is labelled context="default".

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
	fl.BoolVar(&o.TimeLag, "time-lag", false, "export mqctl_lag_seconds (Kafka, JetStream); costs a fetch per lagging partition per poll")
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

func serveRun(o *ServeOptions) error {
	ctx, f := o.Ctx, o.f
	targets, unresolved, multi, err := lagTargets(f, o.AllContexts)
	if err != nil {
		return err
	}
	src := source.New(source.Config{Targets: targets, Unresolved: unresolved, Multi: multi,
		Query: broker.LagQuery{TimeLag: o.TimeLag}, TimeLagFlag: "--time-lag", Warnf: f.Warnf})
	defer src.Close()

	ctxs, timeout, err := serveContexts(f, src, unresolved, o.Interval, o.DeadLetters)
	if err != nil {
		return err
	}
	// Listen before the first poll: a bad --listen fails at once.
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return mqerr.Usagef("--listen %s: %v", o.Listen, err)
	}
	if o.TimeLag {
		// Lets each driver refuse time lag (RabbitMQ): one context that
		// refuses is a usage error, among several it is named on stderr.
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
	polls.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serve on %s: %w", o.Listen, err)
	}
	output.ErrLine(f.IO.Err, "", "stopped")
	return nil
}

// serveContexts are the exporter's contexts: per target, a lag Reader
// and (with deadLetters) a dead-letter listing on the same connection;
// a read that fails forgets the connection so the next poll dials again.
// The unresolved contexts are down from the start. timeout is the longest
// of the targets' --timeout, the bound of one poll.
func serveContexts(f *Factory, src *source.Source, unresolved []lag.Failure, interval time.Duration, deadLetters bool) (ctxs []serve.Context, timeout time.Duration, err error) {
	seen := map[string]bool{}
	name := func(n string) (string, error) {
		n = cmp.Or(n, defaultContextLabel)
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
		f.Logf(1, "context %s: %s (timeout %s)", n, t.Redacted(), t.EffectiveTimeout())
		h := &pollLog{f: f, name: n, interval: interval}
		c := serve.Context{Name: n}
		c.Read = func(ctx context.Context) ([]lag.Row, error) {
			rows, err := src.ReadTarget(ctx, i)
			if err != nil || !deadLetters {
				h.done(src, i, err)
			}
			return rows, err
		}
		if deadLetters {
			c.DeadLetters = func(ctx context.Context) ([]broker.DeadLetterDestination, error) {
				dests, err := readDeadLetters(ctx, src, i)
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
		f.Warnf("context %s: %s", n, u.Error)
		ctxs = append(ctxs, serve.Context{Name: n, Err: errors.New(u.Error)})
	}
	return ctxs, timeout, nil
}

// readDeadLetters lists target i's dead-letter destinations as dlq ls
// finds them (none for a driver without dead letters); the error names
// no secret of the target.
func readDeadLetters(ctx context.Context, src *source.Source, i int) ([]broker.DeadLetterDestination, error) {
	conn, err := src.Conn(ctx, i)
	if err != nil {
		return nil, err
	}
	finder, ok := conn.(broker.DeadLetters)
	if !ok {
		return nil, nil
	}
	dests, err := finder.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", broker.Scrub(err, src.Targets()[i].Secrets()...))
	}
	return dests, nil
}

// pollLog says on stderr when a context's polls start failing and when
// they answer again, not at every poll. One context's polls run one at a
// time, so it needs no lock.
type pollLog struct {
	f        *Factory
	name     string
	interval time.Duration
	failing  bool
}

// done ends a poll of target i: err forgets its connection.
func (l *pollLog) done(src *source.Source, i int, err error) {
	switch {
	case err != nil:
		src.Forget(i)
		if !l.failing {
			l.f.Warnf("context %s: %v (retrying every %s)", l.name, err, l.interval)
		}
		l.failing = true
	case l.failing:
		output.ErrLine(l.f.IO.Err, "", "context "+l.name+" answers again")
		l.failing = false
	}
}
