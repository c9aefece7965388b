package cmd

import (
	"context"
	"fmt"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/consume"
)

// openOnFail opens what --on-fail needs before anything is consumed: the
// producer of dead-letter=DEST, and the waiting places of retry=...
// (declared when missing), which it tells the consumer about. The
// producer comes first: it checks that DEST exists, and a run refused for
// a missing DEST must not leave retry queues or topics behind. The
// returned func closes them; on an error they are closed already.
func openOnFail(ctx context.Context, conn broker.Conn, t broker.Target, caps broker.Capabilities, fs *consume.Flags, run *consume.Options) (_ func(), err error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if run.OnFail.Kind == "dead-letter" {
		var publisher broker.Publisher
		publisher, err = broker.As[broker.Publisher](conn, "dead-lettering")
		if err != nil {
			return nil, err
		}
		pctx, cancel := withTimeout(ctx, t)
		run.DeadLetter, err = publisher.NewProducer(pctx, broker.ProducerOptions{
			Destination: run.OnFail.Dest, DestinationIsQueue: caps.DestinationKind == "queue",
			Mandatory: true, Persistent: true, InFlight: 100,
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("--on-fail dead-letter=%s: %w", run.OnFail.Dest, err)
		}
		closers = append(closers, run.DeadLetter.Close)
	}
	if delays := run.OnFail.Delays; len(delays) > 0 {
		var dr broker.DelayedRetries
		dr, err = broker.As[broker.DelayedRetries](conn, "--on-fail retry=... (delayed retries)")
		if err != nil {
			return nil, err
		}
		rctx, cancel := withTimeout(ctx, t)
		run.Retrier, err = dr.NewRetrier(rctx, broker.RetryOptions{Sources: fs.Consumer.Sources, Delays: delays, Group: fs.Consumer.Group})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("--on-fail retry: %w", err)
		}
		closers = append(closers, run.Retrier.Close)
		fs.Consumer.RetryDelays = delays
	}
	return closeAll, nil
}
