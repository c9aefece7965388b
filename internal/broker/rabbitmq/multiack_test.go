package rabbitmq

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestMultiAckAcksTheRemainderAtClose: 25 deliveries acked with MultiAck
// 10 (two multiple acks while consuming, 5 left for Close) leave nothing
// in the queue; a delivery never settled comes back, and the acks above
// it are sent one by one at Close.
func TestMultiAckAcksTheRemainderAtClose(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 25)
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 10, MultiAck: 10})
	for i := range 25 {
		d := next(t, cs)
		if want := fmt.Sprintf("m%d", i); d.AMQP.MessageID != want {
			t.Fatalf("got %s, want %s", d.AMQP.MessageID, want)
		}
		ack(t, d)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 0); n != 0 {
		t.Fatalf("%d messages back in the queue after Close, want 0: the remainder was not acked", n)
	}

	r.publishN(t, 5)
	cs = newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 5, MultiAck: 5})
	for i := range 5 {
		d := next(t, cs)
		if i != 3 {
			ack(t, d)
		}
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 1); n != 1 {
		t.Fatalf("%d messages back in the queue, want 1 (the one never settled)", n)
	}
	if got := drain(t, r.ach, r.queue); len(got) != 1 || got[0].MessageId != "m3" {
		t.Fatalf("left in the queue: %d messages, want m3 alone", len(got))
	}
}

// TestMultiAckNackGoesAtOnce: a nack between acks requeues its delivery
// at once and the multiple ack that follows does not touch it.
func TestMultiAckNackGoesAtOnce(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 4)
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 10, MultiAck: 3})
	for i := range 4 {
		d := next(t, cs)
		if i == 1 {
			if err := d.Nack(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ack(t, d)
	}
	d := next(t, cs)
	if d.AMQP.MessageID != "m1" || !d.AMQP.Redelivered {
		t.Fatalf("got %s (redelivered %v), want m1 redelivered", d.AMQP.MessageID, d.AMQP.Redelivered)
	}
	ack(t, d)
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 0); n != 0 {
		t.Fatalf("%d messages left, want 0", n)
	}
}

func TestMultiAckOverPrefetchRefused(t *testing.T) {
	r := newRig(t, nil)
	for _, o := range []broker.ConsumerOptions{
		{Sources: []string{r.queue}, Prefetch: 10, MultiAck: 11},
		{Sources: []string{r.queue}, MultiAck: defaultPrefetch + 1},
		{Sources: []string{r.queue}, MultiAck: -1},
	} {
		_, err := r.c.NewConsumer(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "multi-ack") {
			t.Errorf("NewConsumer(prefetch %d, multi-ack %d) = %v, want a multi-ack error", o.Prefetch, o.MultiAck, err)
		}
	}
}

// TestProduceWithoutConfirms: every message is reported written, not
// confirmed, and arrives; an unroutable one (mandatory) is counted by
// Flush, since its done had already said written.
func TestProduceWithoutConfirms(t *testing.T) {
	r := newRig(t, nil)
	p := newProducer(t, r.c, broker.ProducerOptions{Destination: r.queue, DestinationIsQueue: true, NoConfirm: true, Mandatory: true})
	msgs := make([]*broker.Message, 100)
	for i := range msgs {
		msgs[i] = &broker.Message{Value: []byte(fmt.Sprint(i))}
	}
	for i, o := range publishAll(t, p, msgs) {
		if rc, err := o.result(); err != nil || !rc.Unconfirmed {
			t.Fatalf("message %d: %+v, %v; want written, unconfirmed", i, rc, err)
		}
	}
	if n := r.ready(t, 100); n != 100 {
		t.Fatalf("%d in the queue, want 100", n)
	}

	ex := newExchange(t, r.ach, "direct", r.queue, "bound", nil)
	p = newProducer(t, r.c, broker.ProducerOptions{Destination: ex, NoConfirm: true, Mandatory: true})
	o := &outcome{}
	p.Publish(context.Background(), &broker.Message{Value: []byte("x"), AMQP: broker.AMQPMeta{RoutingKey: "nowhere"}}, o.done)
	deadline := time.Now().Add(testenv.Deadline(10 * time.Second))
	for {
		err := p.Flush(context.Background())
		if err != nil {
			if !strings.Contains(err.Error(), "1 messages reported written came back unroutable") {
				t.Fatalf("Flush: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Flush never reported the returned message")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
