package testenv

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// WaitQueue polls queue by passive declare on ch until done says its state
// is the one wanted, for at most within, and returns the last state seen;
// the caller judges it. The broker applies requeues, consumer exits and
// dead-lettering a little after the client call that caused them.
func WaitQueue(t testing.TB, ch *amqp.Channel, queue string, within time.Duration, done func(amqp.Queue) bool) amqp.Queue {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if done(q) || time.Now().After(deadline) {
			return q
		}
		time.Sleep(20 * time.Millisecond)
	}
}
