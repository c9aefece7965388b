package sandbox

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// DemoTick is how often the demo trickles new messages and moves its
// lagging consumers.
const DemoTick = time.Second

// seeder fills one broker with demo data and keeps it moving.
type seeder interface {
	name() string
	// seed creates destinations, messages, lag and dead letters once.
	seed(ctx context.Context) error
	// tick publishes a few new messages and lets consumers move a little.
	tick(ctx context.Context, n int) error
	close()
}

// Demo seeds every running broker and then trickles messages until ctx
// ends. It returns once seeding finished (or failed); the trickle runs in
// the background and stops with ctx. Trickle errors are reported to log
// once per broker, not fatal: a demo keeps going while a broker restarts.
func (s *Sandbox) Demo(ctx context.Context, log io.Writer) (wait func(), err error) {
	var seeders []seeder
	if s.Kafka != nil {
		k, err := newKafkaSeeder(s.Kafka.URL)
		if err != nil {
			return nil, err
		}
		seeders = append(seeders, k)
	}
	if s.RabbitMQ != nil {
		r, err := newRabbitSeeder(ctx, s.RabbitMQ.AMQPURL)
		if err != nil {
			closeAll(seeders)
			return nil, err
		}
		seeders = append(seeders, r)
	}
	if s.NATS != nil {
		n, err := newNATSSeeder(s.NATS.URL)
		if err != nil {
			closeAll(seeders)
			return nil, err
		}
		seeders = append(seeders, n)
	}
	for _, sd := range seeders {
		if err := sd.seed(ctx); err != nil {
			closeAll(seeders)
			return nil, fmt.Errorf("demo %s: %w", sd.name(), err)
		}
	}
	var wg sync.WaitGroup
	for _, sd := range seeders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sd.close()
			trickle(ctx, sd, log)
		}()
	}
	return wg.Wait, nil
}

func trickle(ctx context.Context, sd seeder, log io.Writer) {
	t := time.NewTicker(DemoTick)
	defer t.Stop()
	failing := false
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := sd.tick(ctx, n)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			fmt.Fprintf(log, "demo %s: %v (will keep trying)\n", sd.name(), err)
			failing = true
		case err == nil && failing:
			fmt.Fprintf(log, "demo %s: recovered\n", sd.name())
			failing = false
		}
	}
}

func closeAll(ss []seeder) {
	for _, s := range ss {
		s.close()
	}
}

// demoOrder is the body of the n-th demo order.
func demoOrder(n int) []byte {
	return fmt.Appendf(nil, `{"order_id":%d,"sku":"SKU-%03d","qty":%d,"amount_cents":%d}`, n, n%97, 1+n%5, 499+(n*37)%10000)
}
