package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/consume"
	"github.com/mqctl/mqctl/internal/lag/source"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
	"github.com/mqctl/mqctl/internal/serve"
)

const (
	// consumeStallAfter is how long a `consume --serve` run may go
	// without polling the broker, beyond its handlers' own bound
	// (--exec-timeout per try), before /healthz says DOWN.
	consumeStallAfter = 60 * time.Second
	// consumeProbeEvery is how often --serve checks the broker (and
	// reads the consumer's lag) on a connection of its own.
	consumeProbeEvery = 5 * time.Second
)

// consumeServer is `consume --exec --serve`: /healthz and /metrics while
// the run goes on.
type consumeServer struct {
	srv    *http.Server
	served chan error
	src    *source.Source
	stop   context.CancelFunc
	probes sync.WaitGroup
}

// listenServe listens on --serve's address; it is done before anything is
// declared on the broker, so that an address in use refuses the run with
// nothing left behind.
func listenServe(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, mqerr.Usagef("--serve %s: %v", addr, err)
	}
	return ln, nil
}

// startConsumeServer serves the run's health and metrics on ln;
// run.Observer feeds them. The broker is probed on a second connection
// every consumeProbeEvery, bounded by the target's timeout.
func startConsumeServer(ctx context.Context, f *Factory, t broker.Target, o *ConsumeOptions, run *consume.Options, st *consume.Stats, ln net.Listener) (*consumeServer, error) {
	fs := &o.Flags
	stall := consumeStallAfter
	if fs.ExecTimeout > 0 {
		stall += time.Duration(fs.Retries+1) * fs.ExecTimeout
	}
	cons := serve.NewConsumer(serve.ConsumerOptions{Stats: st, StallAfter: stall,
		ProbeDownAfter: 3*consumeProbeEvery + t.EffectiveTimeout()})
	run.Observer = cons

	// The lag rows of this consumer: its group (Kafka), else its queue
	// (RabbitMQ) or stream (JetStream), narrowed to its topics and its
	// durable consumer.
	name := cmp.Or(fs.Consumer.Group, o.Sources[0])
	src := source.New(source.Config{Targets: []broker.Target{t}, Names: []string{name},
		Query: broker.LagQuery{Match: func(n string) bool { return n == name }, Names: []string{name}}})
	probe := func(ctx context.Context) (*int64, error) {
		rows, err := src.ReadTarget(ctx, 0)
		if err != nil {
			// The broker answered; it has no lag to tell (core NATS
			// without JetStream: source.EmptyBySetupError).
			if _, ok := errors.AsType[*source.EmptyBySetupError](err); ok {
				return nil, nil
			}
			switch mqerr.KindOf(err) {
			case mqerr.Usage, mqerr.NotFound, mqerr.Unsupported:
				return nil, nil
			}
			src.Forget(0)
			// /healthz shows the reason: never a credential.
			return nil, broker.Scrub(err, t.Secrets()...)
		}
		return source.ConsumerLag(rows, name, o.Sources, fs.Consumer.Durable), nil
	}
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &consumeServer{src: src, stop: stop, served: make(chan error, 1),
		srv: &http.Server{Handler: cons.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	s.probes.Go(func() { cons.RunProbe(pctx, consumeProbeEvery, probe) })
	go func() { s.served <- s.srv.Serve(ln) }()
	output.ErrLine(f.IO.Err, "", fmt.Sprintf("serving /healthz and /metrics on http://%s", ln.Addr()))
	return s, nil
}

// close stops serving (the run is over) and the probes.
func (s *consumeServer) close() error {
	s.stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := s.srv.Shutdown(sctx)
	cancel()
	if err == nil {
		err = <-s.served
	}
	s.probes.Wait()
	s.src.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
