package consume

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// The guard knows a message again when it comes back as a new delivery
// (a new tag, marked redelivered), counts only settles refused for the
// broker's ack timeout, and forgets a message once it is settled.
func TestAckGuardCountsTheSameMessage(t *testing.T) {
	delivery := func(value string, tag uint64) *broker.Delivery {
		d := &broker.Delivery{}
		d.Value, d.Destination = []byte(value), "jobs"
		d.Headers = []broker.Header{{Key: "h", Value: []byte("1")}}
		d.AMQP = broker.AMQPMeta{Queue: "jobs", RoutingKey: "jobs", DeliveryTag: tag, Redelivered: tag > 1}
		return d
	}
	at := &broker.AckTimeout{Limit: 2 * time.Second, Setting: "consumer_timeout"}
	timedOut := fmt.Errorf("ack: %w: %w", broker.ErrStaleDelivery, at)
	var g ackGuard
	for i, step := range []struct {
		d    *broker.Delivery
		err  error
		want int
	}{
		{delivery("a", 1), timedOut, 1},
		{delivery("b", 2), timedOut, 1},
		// Stale for another reason (a reconnect): not counted.
		{delivery("a", 3), fmt.Errorf("ack: %w", broker.ErrStaleDelivery), 0},
		{delivery("a", 4), errors.New("some other failure"), 0},
		{delivery("a", 5), timedOut, 2},
		// Settled at last: forgotten.
		{delivery("b", 6), nil, 0},
		{delivery("b", 7), timedOut, 1},
	} {
		got, n := g.settled(step.d, step.err)
		if n != step.want || (got != nil) != (step.want > 0) {
			t.Errorf("step %d: %v, %d; want %d", i, got, n, step.want)
		}
	}
}

// The stop line names the source, the limit as the broker named it and
// what to raise.
func TestAckTimeoutStop(t *testing.T) {
	d := &broker.Delivery{}
	d.AMQP = broker.AMQPMeta{Queue: "jobs", DeliveryTag: 4}
	err := ackTimeoutStop(d, &broker.AckTimeout{Limit: 2 * time.Second, Setting: "consumer_timeout", Raise: "the node's consumer_timeout"}, 2)
	want := "stopped: queue jobs delivery 4: the handler outlasted the broker's ack timeout (consumer_timeout = 2000 ms) on the same message 2 times, and the broker took the message back each time (it is there again, not acked); raise the node's consumer_timeout above the handler's longest run, or make the handler faster"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

// A quorum queue stamps each redelivery with a new x-delivery-count
// header (seen on RabbitMQ 3.10: 2, then 4 after two returns) and, from
// RabbitMQ 4.3, a new x-acquired-count at every hand-out: the guard must
// still know the message, or a handler slower than consumer_timeout runs
// on it forever on a quorum queue. Any other header still tells messages
// apart.
func TestAckGuardIgnoresDeliveryCount(t *testing.T) {
	delivery := func(headers ...string) *broker.Delivery {
		d := &broker.Delivery{}
		d.Value, d.Destination = []byte("a"), "jobs"
		d.Headers = []broker.Header{{Key: "h", Value: []byte("1")}}
		for i := 0; i+1 < len(headers); i += 2 {
			d.Headers = append(d.Headers, broker.Header{Key: headers[i], Value: []byte(headers[i+1])})
		}
		d.AMQP = broker.AMQPMeta{Queue: "jobs", RoutingKey: "jobs"}
		return d
	}
	timedOut := fmt.Errorf("ack: %w: %w", broker.ErrStaleDelivery, &broker.AckTimeout{Setting: "consumer_timeout"})
	var g ackGuard
	for i, headers := range [][]string{
		nil,
		{"x-delivery-count", "1"},
		{"x-delivery-count", "2"},
		{"x-acquired-count", "1"},
		{"x-delivery-count", "2", "x-acquired-count", "3"},
		{"x-acquired-count", "4", "x-delivery-count", "3"},
	} {
		if _, n := g.settled(delivery(headers...), timedOut); n != i+1 {
			t.Errorf("delivery %d (headers %q): counted %d ack timeouts, want %d", i, headers, n, i+1)
		}
	}
	same := delivery("x-acquired-count", "1")
	for _, headers := range [][]string{
		{"x-acquired-count", "1", "h2", "1"},
		{"x-acquired-count", "1", "X-Acquired-Count", "2"},
		{"x-acquired-count-2", "1"},
	} {
		if g.key(&delivery(headers...).Message) == g.key(&same.Message) {
			t.Errorf("headers %q: the same key as %q, want another", headers, []string{"x-acquired-count", "1"})
		}
	}
}
