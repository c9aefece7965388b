package rabbitmq

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/testenv"
)

// A delayed retry declares <queue>.retry.<delay> with a TTL that
// dead-letters back to the queue, parks a copy with its typed headers and
// properties (without earlier x-death) and mqctl-attempt, acks the
// original only then, and the copy comes back; the retry queue does not
// make the queue a dead-letter queue for dlq ls.
func TestRetrierParksAndReturns(t *testing.T) {
	t.Parallel()
	r := newDLXRig(t)
	r.queue(t, "jobs", nil)
	ctx := context.Background()
	rt, err := r.c.NewRetrier(ctx, broker.RetryOptions{Sources: []string{"jobs"}, Delays: []time.Duration{time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	q, err := r.ch.QueueDeclarePassive("jobs.retry.1s", true, false, false, false, nil)
	if err != nil || q.Messages != 0 {
		t.Fatalf("retry queue: %+v %v", q, err)
	}
	err = r.ch.PublishWithContext(ctx, "", "jobs", false, false, amqp.Publishing{Body: []byte("v"), MessageId: "m1", ContentEncoding: "gzip",
		Headers: amqp.Table{"n": int32(7), "x-death": []any{amqp.Table{"queue": "old"}}, "x-first-death-queue": "old"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := r.c.NewConsumer(ctx, broker.ConsumerOptions{Sources: []string{"jobs"}, Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	next := func() *broker.Delivery {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, testenv.Deadline(5*time.Second))
		defer cancel()
		d, err := cons.Next(nctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := next()
	if got := rt.Attempt(&d.Message); got != 1 {
		t.Errorf("first delivery: attempt %d, want 1", got)
	}
	if err := rt.Retry(ctx, d, 0, 2); err != nil {
		t.Fatal(err)
	}
	back := next()
	if got := rt.Attempt(&back.Message); got != 2 {
		t.Errorf("back from the retry queue: attempt %d, want 2", got)
	}
	x := back.Settler.(*delivery)
	if x.table["n"] != int32(7) || x.table[broker.AttemptHeader] != int32(2) || x.table["x-first-death-queue"] != "jobs.retry.1s" ||
		back.AMQP.MessageID != "m1" || x.encoding != "gzip" || string(back.Value) != "v" {
		t.Errorf("copy: headers %v, id %q, encoding %q, value %q", x.table, back.AMQP.MessageID, x.encoding, back.Value)
	}
	if deaths, _ := x.table["x-death"].([]any); len(deaths) != 1 {
		t.Errorf("x-death %v: want one entry, for the retry queue", x.table["x-death"])
	}
	if err := back.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	dlqs, err := r.c.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dlqs {
		if d.Name == "jobs" {
			t.Errorf("dlq ls lists the queue behind its retry queue: %+v", d)
		}
	}
	// A queue of the retry name with other arguments is refused.
	r.queue(t, "other", nil)
	r.queue(t, "other.retry.1s", nil)
	if _, err := r.c.NewRetrier(ctx, broker.RetryOptions{Sources: []string{"other"}, Delays: []time.Duration{time.Second}}); err == nil {
		t.Error("a retry queue declared without the TTL was taken")
	}
}
