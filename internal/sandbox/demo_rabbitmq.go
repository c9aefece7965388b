package sandbox

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Demo topology on RabbitMQ: topic exchange "orders" routes to the quorum
// queue "orders.created" and the classic queue "payments"; rejected orders
// dead-letter through exchange "orders.dlx" into "orders.dlq" (x-death).
const (
	demoRabbitExchange = "orders"
	demoRabbitDLX      = "orders.dlx"
	demoRabbitQueue    = "orders.created"
	demoRabbitPayments = "payments"
	demoRabbitDLQ      = "orders.dlq"
)

type rabbitSeeder struct {
	url  string
	conn *amqp.Connection
	ch   *amqp.Channel
	n    int
}

func newRabbitSeeder(ctx context.Context, url string) (*rabbitSeeder, error) {
	r := &rabbitSeeder{url: url}
	if err := r.connect(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rabbitSeeder) connect() error {
	conn, err := amqp.Dial(r.url)
	if err != nil {
		return fmt.Errorf("demo rabbitmq: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return fmt.Errorf("demo rabbitmq: %w", err)
	}
	r.conn, r.ch = conn, ch
	return nil
}

func (r *rabbitSeeder) name() string { return "rabbitmq" }

func (r *rabbitSeeder) close() {
	if r.conn != nil {
		r.conn.Close()
	}
}

func (r *rabbitSeeder) seed(ctx context.Context) error {
	if err := r.declare(); err != nil {
		return err
	}
	for i := 1; i <= 100; i++ {
		if err := r.publish(ctx, "order.created", demoOrder(i), fmt.Sprintf("order-%d", i)); err != nil {
			return err
		}
		if i%2 == 0 {
			if err := r.publish(ctx, "payment.captured", fmt.Appendf(nil, `{"order_id":%d}`, i), fmt.Sprintf("payment-%d", i)); err != nil {
				return err
			}
		}
	}
	return r.deadLetter(8)
}

// declare creates the demo topology; declaring what exists is a no-op.
func (r *rabbitSeeder) declare() error {
	ch := r.ch
	steps := []func() error{
		func() error { return ch.ExchangeDeclare(demoRabbitExchange, "topic", true, false, false, false, nil) },
		func() error { return ch.ExchangeDeclare(demoRabbitDLX, "fanout", true, false, false, false, nil) },
		func() error {
			_, err := ch.QueueDeclare(demoRabbitDLQ, true, false, false, false, nil)
			return err
		},
		func() error { return ch.QueueBind(demoRabbitDLQ, "", demoRabbitDLX, false, nil) },
		func() error {
			_, err := ch.QueueDeclare(demoRabbitQueue, true, false, false, false, amqp.Table{
				"x-queue-type": "quorum", "x-dead-letter-exchange": demoRabbitDLX,
			})
			return err
		},
		func() error { return ch.QueueBind(demoRabbitQueue, "order.created", demoRabbitExchange, false, nil) },
		func() error {
			_, err := ch.QueueDeclare(demoRabbitPayments, true, false, false, false, nil)
			return err
		},
		func() error { return ch.QueueBind(demoRabbitPayments, "payment.#", demoRabbitExchange, false, nil) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// publish sends one persistent message and waits for the broker's confirm.
func (r *rabbitSeeder) publish(ctx context.Context, key string, body []byte, id string) error {
	conf, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, demoRabbitExchange, key, true, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: id, Timestamp: time.Now(), Body: body,
		Headers: amqp.Table{"source": "demo"},
	})
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("publish %s nacked", id)
	}
	return err
}

// deadLetter takes n orders off the head of the queue and rejects them so
// that RabbitMQ dead-letters them with an x-death header.
func (r *rabbitSeeder) deadLetter(n int) error {
	for i := 0; i < n; i++ {
		d, ok, err := r.ch.Get(demoRabbitQueue, false)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := d.Reject(false); err != nil {
			return err
		}
	}
	return nil
}

func (r *rabbitSeeder) tick(ctx context.Context, n int) error {
	// A channel exception (say a queue deleted during the demo) closes only
	// the channel: reconnect and declare the topology again in both cases.
	if r.conn == nil || r.conn.IsClosed() || r.ch.IsClosed() {
		r.close()
		if err := r.connect(); err != nil {
			r.conn = nil
			return err
		}
		if err := r.declare(); err != nil {
			return err
		}
	}
	r.n++
	i := 100 + r.n
	if err := r.publish(ctx, "order.created", demoOrder(i), fmt.Sprintf("order-%d", i)); err != nil {
		return err
	}
	// Every tenth order fails downstream and is dead-lettered.
	if r.n%10 == 0 {
		return r.deadLetter(1)
	}
	return nil
}
