package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Demo streams on JetStream: ORDERS captures orders.>; DEAD_LETTERS captures
// the MAX_DELIVERIES and MSG_TERMINATED advisories of every consumer, the
// usual way to keep dead letters on JetStream. Consumer "processor" gives
// up on some orders; "billing" falls behind.
const (
	demoNATSStream    = "ORDERS"
	demoNATSDLQStream = "DEAD_LETTERS"
	demoNATSWorker    = "processor"
	demoNATSLagging   = "billing"
)

type natsSeeder struct {
	nc *nats.Conn
	js jetstream.JetStream
	n  int
}

func newNATSSeeder(url string) (*natsSeeder, error) {
	nc, err := nats.Connect(url, nats.Name("mqctl-demo"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("demo nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("demo nats: %w", err)
	}
	return &natsSeeder{nc: nc, js: js}, nil
}

func (s *natsSeeder) name() string { return "nats" }
func (s *natsSeeder) close()       { s.nc.Close() }

func (s *natsSeeder) seed(ctx context.Context) error {
	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: demoNATSStream, Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		return err
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: demoNATSDLQStream, Storage: jetstream.FileStorage,
		Subjects: []string{
			"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>",
			"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>",
		},
	}); err != nil {
		return err
	}
	for i := 1; i <= 100; i++ {
		if _, err := s.js.Publish(ctx, "orders.created", demoOrder(i), jetstream.WithMsgID(fmt.Sprintf("order-%d", i))); err != nil {
			return err
		}
	}
	if _, err := s.js.CreateOrUpdateConsumer(ctx, demoNATSStream, jetstream.ConsumerConfig{
		Durable: demoNATSLagging, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		return err
	}
	worker, err := s.js.CreateOrUpdateConsumer(ctx, demoNATSStream, jetstream.ConsumerConfig{
		Durable: demoNATSWorker, AckPolicy: jetstream.AckExplicitPolicy,
		MaxDeliver: 2, AckWait: time.Second,
	})
	if err != nil {
		return err
	}
	return s.work(ctx, worker, 20, true)
}

// work fetches n messages as "processor": every fifth is terminated, every
// seventh is nacked until it runs out of deliveries, the rest are acked.
func (s *natsSeeder) work(ctx context.Context, c jetstream.Consumer, n int, drainNaks bool) error {
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		switch seq := meta.Sequence.Stream; {
		case seq%5 == 0:
			err = m.TermWithReason("invalid SKU")
		case seq%7 == 0:
			err = m.Nak()
		default:
			err = m.Ack()
		}
		if err != nil {
			return err
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if drainNaks {
		// Redeliveries of the nacked ones: nack again to exhaust MaxDeliver.
		return s.nakAll(ctx, c)
	}
	return nil
}

func (s *natsSeeder) nakAll(ctx context.Context, c jetstream.Consumer) error {
	batch, err := c.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		if err := m.Nak(); err != nil {
			return err
		}
	}
	return nil
}

func (s *natsSeeder) tick(ctx context.Context, n int) error {
	s.n++
	i := 100 + s.n
	if _, err := s.js.Publish(ctx, "orders.created", demoOrder(i), jetstream.WithMsgID(fmt.Sprintf("order-%d", i))); err != nil {
		return err
	}
	if s.n%5 != 0 {
		return nil
	}
	c, err := s.js.Consumer(ctx, demoNATSStream, demoNATSWorker)
	if err != nil {
		return err
	}
	return s.work(ctx, c, 5, false)
}
