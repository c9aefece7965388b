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
// returned func closes them.
func openOnFail(ctx context.Context, conn broker.Conn, t broker.Target, caps broker.Capabilities, fs *consume.Flags, run *consume.Options) (func(), error) {
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if delays := run.OnFail.Delays; len(delays) > 0 {
		dr, err := broker.As[broker.DelayedRetries](conn, "--on-fail retry=... (delayed retries)")
		if err != nil {
			return closeAll, err
		}
		rctx, cancel := withTimeout(ctx, t)
		run.Retrier, err = dr.NewRetrier(rctx, broker.RetryOptions{Sources: fs.Consumer.Sources, Delays: delays, Group: fs.Consumer.Group})
		cancel()
		if err != nil {
			return closeAll, fmt.Errorf("--on-fail retry: %w", err)
		}
		closers = append(closers, run.Retrier.Close)
		fs.Consumer.RetryDelays = delays
	}
	if run.OnFail.Kind == "dead-letter" {
		publisher, err := broker.As[broker.Publisher](conn, "dead-lettering")
		if err != nil {
			return closeAll, err
		}
		pctx, cancel := withTimeout(ctx, t)
		run.DeadLetter, err = publisher.NewProducer(pctx, broker.ProducerOptions{
			Destination: run.OnFail.Dest, DestinationIsQueue: caps.DestinationKind == "queue",
			Mandatory: true, Persistent: true, InFlight: 100,
		})
		cancel()
		if err != nil {
			return closeAll, fmt.Errorf("--on-fail dead-letter=%s: %w", run.OnFail.Dest, err)
		}
		closers = append(closers, run.DeadLetter.Close)
	}
	return closeAll, nil
}
