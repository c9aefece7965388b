package consume

import (
	"context"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// Observer is told what an --exec run does, for `consume --serve`'s
// health and metrics. Its methods are called from the run's goroutines
// and must be safe for concurrent use.
type Observer interface {
	// Polling says the run waits for the broker's next delivery (true)
	// or got one and is handing it on (false).
	Polling(waiting bool)
	// HandlerRan says one run of the handler (attempt counts from 1)
	// took took and failed with err, or succeeded (nil).
	HandlerRan(attempt int, took time.Duration, err error)
}

// ConsumerWatcher is an Observer that also wants the run's consumer, to
// ask it about its state (broker.Assignment) while the run goes on.
type ConsumerWatcher interface {
	Watch(c broker.Consumer)
}

// polling tells the observer, if any, whether the run waits in Next.
func (r *runner) polling(waiting bool) {
	if r.o.Observer != nil {
		r.o.Observer.Polling(waiting)
	}
}

// runAttempt runs one handler attempt under the drain's context, timing
// it for the observer.
func (r *runner) runAttempt(dr *drain, attempt int, f func(context.Context) error) error {
	start := time.Now()
	err := dr.run(f)
	if r.o.Observer != nil {
		r.o.Observer.HandlerRan(attempt, time.Since(start), err)
	}
	return err
}
