package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// rig is a queue on the test broker, a Conn to consume it through, and a
// plain amqp091 channel in confirm mode to publish and inspect with.
type rig struct {
	env   *testenv.RabbitMQEnv
	c     *Conn
	ach   *amqp.Channel
	queue string
}

func newRig(t *testing.T, args amqp.Table) *rig {
	t.Helper()
	env := testenv.RabbitMQ(t)
	r := &rig{env: env, c: open(t, broker.Target{URL: env.AMQPURL}), ach: setup(t, env)}
	if err := r.ach.Confirm(false); err != nil {
		t.Fatal(err)
	}
	r.queue = newQueue(t, r.ach, "consume", args)
	return r
}

// publish sends ps to queue through the default exchange and waits for
// the confirms.
func (r *rig) publish(t *testing.T, queue string, ps ...amqp.Publishing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dcs := make([]*amqp.DeferredConfirmation, len(ps))
	for i, p := range ps {
		dc, err := r.ach.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, p)
		if err != nil {
			t.Fatal(err)
		}
		dcs[i] = dc
	}
	for i, dc := range dcs {
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish %d to %s not confirmed: %v", i, queue, err)
		}
	}
}

// publishN publishes n messages whose ids and bodies are m0, m1, ...
func (r *rig) publishN(t *testing.T, n int) {
	t.Helper()
	ps := make([]amqp.Publishing, n)
	for i := range ps {
		id := fmt.Sprintf("m%d", i)
		ps[i] = amqp.Publishing{MessageId: id, Body: []byte(id)}
	}
	r.publish(t, r.queue, ps...)
}

// ready is the queue's ready count, waiting up to 5 s for it to be want
// (the broker requeues a closed consumer's messages as it closes).
func (r *rig) ready(t *testing.T, want int) int {
	t.Helper()
	return testenv.WaitQueue(t, r.ach, r.queue, 5*time.Second, func(q amqp.Queue) bool { return q.Messages == want }).Messages
}

// logs collects what a consumer reports through Logf.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// count is how many lines contain s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newConsumer(t *testing.T, c *Conn, o broker.ConsumerOptions) *consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bc, err := c.NewConsumer(ctx, o)
	if err != nil {
		t.Fatalf("NewConsumer(%+v): %v", o, err)
	}
	t.Cleanup(func() { bc.Close() })
	return bc.(*consumer)
}

// next is Next within 10 s, failing t on any error.
func next(t *testing.T, cs broker.Consumer) *broker.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := cs.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// nothingWithin checks that Next delivers nothing for d.
func nothingWithin(t *testing.T, cs broker.Consumer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if got, err := cs.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, %v; want nothing until the deadline", got, err)
	}
}

func ack(t *testing.T, d *broker.Delivery) {
	t.Helper()
	if err := d.Ack(context.Background()); err != nil {
		t.Fatalf("ack %s: %v", d.AMQP.MessageID, err)
	}
}

// TestConsumeMessage: body, every property and every kind of header value
// arrive in the Message: headers ordered by name, values as text or JSON.
func TestConsumeMessage(t *testing.T) {
	r := newRig(t, nil)
	stamp := time.Unix(1700000000, 0)
	headers := []struct {
		name string
		v    any
		want string
	}{
		{"text", "plain", "plain"},
		{"binary", []byte{0x00, 0xff, 0x01}, "\x00\xff\x01"},
		{"empty", "", ""},
		{"int8", int8(-5), "-5"},
		{"int16", int16(300), "300"},
		{"int32", int32(-70000), "-70000"},
		{"int64", int64(1) << 40, "1099511627776"},
		{"bool", true, "true"},
		{"float32", float32(0.25), "0.25"},
		{"float64", 1.5, "1.5"},
		{"decimal", amqp.Decimal{Scale: 2, Value: 12345}, "123.45"},
		{"timestamp", stamp, "2023-11-14T22:13:20Z"},
		{"void", nil, ""},
		{"table", amqp.Table{"a": "x", "n": int32(1)}, `{"a":"x","n":1}`},
		{"array", []any{"a", int32(2)}, `["a",2]`},
	}
	table := amqp.Table{}
	for _, h := range headers {
		table[h.name] = h.v
	}
	r.publish(t, r.queue,
		amqp.Publishing{
			Body: []byte("hello \x00\xff world"), Headers: table, Timestamp: stamp,
			ContentType: "application/octet-stream", MessageId: "m-1", CorrelationId: "c-1", ReplyTo: "replies",
			Expiration: "600000", Priority: 3, Type: "greeting", AppId: "mqctl-test", DeliveryMode: amqp.Persistent,
		},
		amqp.Publishing{},
	)
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}})

	d := next(t, cs)
	if string(d.Value) != "hello \x00\xff world" || d.Key != nil || !d.Timestamp.Equal(stamp) || d.Destination != r.queue {
		t.Errorf("value %q, key %q, timestamp %v, destination %q", d.Value, d.Key, d.Timestamp, d.Destination)
	}
	wantMeta := broker.AMQPMeta{
		Exchange: "", RoutingKey: r.queue, Queue: r.queue, DeliveryTag: 1, Redelivered: false,
		ContentType: "application/octet-stream", MessageID: "m-1", CorrelationID: "c-1", ReplyTo: "replies",
		Expiration: "600000", Priority: 3, Type: "greeting", AppID: "mqctl-test", Persistent: true,
	}
	if d.AMQP != wantMeta {
		t.Errorf("AMQP meta\n got %+v\nwant %+v", d.AMQP, wantMeta)
	}
	if !slices.IsSortedFunc(d.Headers, func(a, b broker.Header) int { return strings.Compare(a.Key, b.Key) }) || len(d.Headers) != len(headers) {
		t.Errorf("headers not one per name in name order: %q", d.Headers)
	}
	for _, h := range headers {
		t.Run(h.name, func(t *testing.T) {
			got := d.HeaderValues(h.name)
			if len(got) != 1 || string(got[0]) != h.want {
				t.Errorf("header %s = %q, want %q", h.name, got, h.want)
			}
		})
	}
	ack(t, d)

	d = next(t, cs)
	if len(d.Value) != 0 || d.Headers != nil || !d.Timestamp.IsZero() || d.AMQP.Persistent || d.AMQP.DeliveryTag != 2 {
		t.Errorf("bare message: value %q, headers %q, timestamp %v, meta %+v", d.Value, d.Headers, d.Timestamp, d.AMQP)
	}
	ack(t, d)
}

func TestDecimalText(t *testing.T) {
	tests := []struct {
		d    amqp.Decimal
		want string
	}{
		{amqp.Decimal{Scale: 0, Value: 5}, "5"},
		{amqp.Decimal{Scale: 0, Value: -5}, "-5"},
		{amqp.Decimal{Scale: 2, Value: 5}, "0.05"},
		{amqp.Decimal{Scale: 2, Value: -5}, "-0.05"},
		{amqp.Decimal{Scale: 3, Value: -12345}, "-12.345"},
		{amqp.Decimal{Scale: 1, Value: 0}, "0.0"},
		{amqp.Decimal{Scale: 2, Value: 100}, "1.00"},
	}
	for _, tt := range tests {
		if got := string(headerBytes(tt.d)); got != tt.want {
			t.Errorf("headerBytes(%+v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestConsumeManualAck: only what was acked is gone; an unsettled delivery
// comes again, marked redelivered, to the next consumer.
func TestConsumeManualAck(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 3)
	first := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}})
	for _, want := range []string{"m0", "m1", "m2"} {
		d := next(t, first)
		if d.AMQP.MessageID != want || d.AMQP.Redelivered {
			t.Fatalf("got %s (redelivered %v), want %s fresh", d.AMQP.MessageID, d.AMQP.Redelivered, want)
		}
		if want != "m1" {
			ack(t, d)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}})
	d := next(t, second)
	if d.AMQP.MessageID != "m1" || !d.AMQP.Redelivered {
		t.Fatalf("got %s (redelivered %v), want m1 redelivered", d.AMQP.MessageID, d.AMQP.Redelivered)
	}
	ack(t, d)
	nothingWithin(t, second, 300*time.Millisecond)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 0); n != 0 {
		t.Fatalf("%d messages left in the queue, want 0", n)
	}
}

// TestConsumeVerbs: Nack requeues at once (a delay is reported ignored,
// once), Term dead-letters through the DLX with x-death, InProgress
// changes nothing, and no delivery is settled twice.
func TestConsumeVerbs(t *testing.T) {
	tests := []struct {
		name string
		dlx  bool
		// settle settles d (the only message) and checks what follows.
		settle func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery)
	}{
		{
			name: "nack requeues",
			settle: func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery) {
				if err := d.Nack(context.Background(), 0); err != nil {
					t.Fatal(err)
				}
				again := next(t, cs)
				if again.AMQP.MessageID != "m0" || !again.AMQP.Redelivered {
					t.Fatalf("after nack got %s (redelivered %v), want m0 redelivered", again.AMQP.MessageID, again.AMQP.Redelivered)
				}
				ack(t, again)
				if l.count("cannot be delayed") != 0 {
					t.Errorf("a nack without delay logged: %s", l)
				}
			},
		},
		{
			name: "nack with a delay requeues at once and says so once",
			settle: func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery) {
				for range 2 {
					start := time.Now()
					if err := d.Nack(context.Background(), time.Minute); err != nil {
						t.Fatal(err)
					}
					d = next(t, cs)
					if d.AMQP.MessageID != "m0" || time.Since(start) > testenv.Deadline(5*time.Second) {
						t.Fatalf("after a delayed nack got %s after %v", d.AMQP.MessageID, time.Since(start))
					}
				}
				ack(t, d)
				if n := l.count("cannot be delayed"); n != 1 {
					t.Errorf("the ignored delay was logged %d times, want once: %s", n, l)
				}
			},
		},
		{
			name: "term dead-letters with x-death",
			dlx:  true,
			settle: func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery) {
				if err := d.Term(context.Background()); err != nil {
					t.Fatal(err)
				}
				nothingWithin(t, cs, 300*time.Millisecond)
				dead := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue + ".dlq"}})
				dd := next(t, dead)
				if dd.AMQP.MessageID != "m0" || dd.Destination != r.queue+".dlq" {
					t.Fatalf("dead letter %s from %s", dd.AMQP.MessageID, dd.Destination)
				}
				var deaths []struct {
					Count       int64    `json:"count"`
					Reason      string   `json:"reason"`
					Queue       string   `json:"queue"`
					Exchange    string   `json:"exchange"`
					RoutingKeys []string `json:"routing-keys"`
				}
				raw := dd.HeaderValues("x-death")
				if len(raw) != 1 {
					t.Fatalf("dead letter headers %q have no x-death", dd.Headers)
				}
				if err := json.Unmarshal(raw[0], &deaths); err != nil {
					t.Fatalf("x-death %s: %v", raw[0], err)
				}
				if len(deaths) != 1 || deaths[0].Count != 1 || deaths[0].Reason != "rejected" || deaths[0].Queue != r.queue ||
					deaths[0].Exchange != "" || !slices.Equal(deaths[0].RoutingKeys, []string{r.queue}) {
					t.Fatalf("x-death = %s", raw[0])
				}
				ack(t, dd)
			},
		},
		{
			name: "in-progress changes nothing",
			settle: func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery) {
				if err := d.InProgress(context.Background()); err != nil {
					t.Fatal(err)
				}
				nothingWithin(t, cs, 300*time.Millisecond)
				ack(t, d)
			},
		},
		{
			name: "a second settle fails and the channel lives on",
			settle: func(t *testing.T, r *rig, cs *consumer, l *logs, d *broker.Delivery) {
				ack(t, d)
				for _, again := range []func(context.Context) error{d.Ack, d.Term, func(ctx context.Context) error { return d.Nack(ctx, 0) }} {
					if err := again(context.Background()); err == nil || !strings.Contains(err.Error(), "settled already") {
						t.Fatalf("settling twice: %v, want it refused", err)
					}
				}
				r.publish(t, r.queue, amqp.Publishing{MessageId: "m1"})
				d = next(t, cs)
				if d.AMQP.MessageID != "m1" {
					t.Fatalf("got %s, want m1", d.AMQP.MessageID)
				}
				ack(t, d)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args amqp.Table
			r := newRig(t, nil)
			if tt.dlx {
				// A fresh queue that dead-letters to queue.dlq through the default exchange.
				r.queue += ".src"
				dlq := r.queue + ".dlq"
				newNamedQueue(t, r.ach, dlq, nil)
				args = amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
				newNamedQueue(t, r.ach, r.queue, args)
			}
			r.publishN(t, 1)
			l := &logs{}
			cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Logf: l.logf})
			d := next(t, cs)
			if d.AMQP.MessageID != "m0" {
				t.Fatalf("got %s, want m0", d.AMQP.MessageID)
			}
			tt.settle(t, r, cs, l, d)
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			if n := r.ready(t, 0); n != 0 {
				t.Fatalf("%d messages left in %s, want 0", n, r.queue)
			}
		})
	}
}

// newNamedQueue declares queue with args, deleted when the test ends.
func newNamedQueue(t *testing.T, ch *amqp.Channel, queue string, args amqp.Table) {
	t.Helper()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", queue, err)
	}
	t.Cleanup(func() { ch.QueueDelete(queue, false, false, false) })
}

// TestConsumeUntilEnd: Next returns io.EOF after the messages that were
// ready at the start, not those published since; with peek, after the
// prefetch at most, and it says so.
func TestConsumeUntilEnd(t *testing.T) {
	tests := []struct {
		name            string
		before, after   int
		prefetch        int
		peek            bool
		wantIDs         []string
		wantReadyAtExit int
		wantLog         string
	}{
		{name: "empty queue", before: 0, after: 2, wantReadyAtExit: 2},
		{name: "ready at the start only", before: 5, after: 3, wantIDs: []string{"m0", "m1", "m2", "m3", "m4"}, wantReadyAtExit: 3},
		{name: "small prefetch", before: 5, after: 1, prefetch: 2, wantIDs: []string{"m0", "m1", "m2", "m3", "m4"}, wantReadyAtExit: 1},
		{name: "peek stops at the prefetch", before: 5, prefetch: 2, peek: true, wantIDs: []string{"m0", "m1"}, wantReadyAtExit: 5, wantLog: "only the first 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.publishN(t, tt.before)
			l := &logs{}
			cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, UntilEnd: true, Prefetch: tt.prefetch, Peek: tt.peek, Logf: l.logf})
			later := make([]amqp.Publishing, tt.after)
			for i := range later {
				later[i] = amqp.Publishing{MessageId: "later"}
			}
			r.publish(t, r.queue, later...)

			var ids []string
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				d, err := cs.Next(ctx)
				cancel()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Next after %v: %v", ids, err)
				}
				ids = append(ids, d.AMQP.MessageID)
				ack(t, d)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Fatalf("read %v before EOF, want %v", ids, tt.wantIDs)
			}
			if _, err := cs.Next(context.Background()); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after EOF: %v", err)
			}
			if cs.Buffered() != 0 {
				t.Fatal("Buffered after EOF is not 0")
			}
			if tt.wantLog != "" && l.count(tt.wantLog) != 1 {
				t.Errorf("log %q, want a line saying %q", l, tt.wantLog)
			}
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			if n := r.ready(t, tt.wantReadyAtExit); n != tt.wantReadyAtExit {
				t.Fatalf("%d ready after Close, want %d", n, tt.wantReadyAtExit)
			}
		})
	}
}

// TestConsumePeek: peeked messages are not acked whatever the caller
// settles, and go back at Close, in order, marked redelivered.
func TestConsumePeek(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 3)
	l := &logs{}
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Peek: true, Prefetch: 10, Logf: l.logf})
	if l.count("redelivered") != 1 {
		t.Errorf("no warning that peeking marks messages redelivered: %q", l)
	}
	for i, settle := range []func(*broker.Delivery) error{
		func(d *broker.Delivery) error { return d.Ack(context.Background()) },
		func(d *broker.Delivery) error { return d.Term(context.Background()) },
		func(d *broker.Delivery) error { return d.Nack(context.Background(), 0) },
	} {
		d := next(t, cs)
		if want := fmt.Sprintf("m%d", i); d.AMQP.MessageID != want {
			t.Fatalf("got %s, want %s", d.AMQP.MessageID, want)
		}
		if err := settle(d); err != nil {
			t.Fatalf("settle while peeking: %v", err)
		}
	}
	nothingWithin(t, cs, 300*time.Millisecond)
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	r.ready(t, 3)
	got := drain(t, r.ach, r.queue)
	var ids []string
	for _, d := range got {
		if !d.Redelivered {
			t.Errorf("%s came back not marked redelivered", d.MessageId)
		}
		ids = append(ids, d.MessageId)
	}
	if !slices.Equal(ids, []string{"m0", "m1", "m2"}) {
		t.Fatalf("queue after peek holds %v, want m0 m1 m2", ids)
	}
}

// TestConsumeBuffered: Buffered counts a delivery Next returns without
// waiting (even with an ended ctx), and is 0 when none is there.
func TestConsumeBuffered(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 3)
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}})
	ack(t, next(t, cs))
	for deadline := time.Now().Add(5 * time.Second); cs.Buffered() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Buffered stayed 0 with two messages prefetched")
		}
	}
	if cs.Buffered() != 1 {
		t.Fatal("Buffered changed without a Next")
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := cs.Next(ended)
	if err != nil || d.AMQP.MessageID != "m1" {
		t.Fatalf("Next with a buffered delivery and an ended ctx: %v, %v", d, err)
	}
	ack(t, d)
	ack(t, next(t, cs))
	time.Sleep(100 * time.Millisecond)
	if n := cs.Buffered(); n != 0 {
		t.Fatalf("Buffered = %d with the queue empty", n)
	}
}

// TestNewConsumerErrors: a missing queue is NotFound naming it and the
// vhost; bad options are usage errors; none of them breaks the Conn.
func TestNewConsumerErrors(t *testing.T) {
	r := newRig(t, nil)
	missing := testenv.UniqueName(t, "missing")
	tests := []struct {
		name string
		o    broker.ConsumerOptions
		kind mqerr.Kind
		want string
	}{
		{"missing queue", broker.ConsumerOptions{Sources: []string{missing}}, mqerr.NotFound, fmt.Sprintf(`queue %q does not exist in vhost "/"`, missing)},
		{"no queue", broker.ConsumerOptions{}, mqerr.Usage, "exactly one queue, got 0"},
		{"two queues", broker.ConsumerOptions{Sources: []string{r.queue, "b"}}, mqerr.Usage, "exactly one queue, got 2"},
		{"empty name", broker.ConsumerOptions{Sources: []string{""}}, mqerr.Usage, "queue name to consume from is required"},
		{"long name", broker.ConsumerOptions{Sources: []string{strings.Repeat("q", 256)}}, mqerr.Usage, "at most 255"},
		{"negative prefetch", broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: -1}, mqerr.Usage, "prefetch must be between 1 and 65535"},
		{"huge prefetch", broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 70000}, mqerr.Usage, "prefetch must be between 1 and 65535"},
		{"group", broker.ConsumerOptions{Sources: []string{r.queue}, Group: "g"}, mqerr.Usage, "consumer group (Kafka) does not apply"},
		{"durable", broker.ConsumerOptions{Sources: []string{r.queue}, Durable: "d"}, mqerr.Usage, "durable consumer (JetStream) does not apply"},
		{"core", broker.ConsumerOptions{Sources: []string{r.queue}, Core: true}, mqerr.Usage, "core NATS does not apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cs, err := r.c.NewConsumer(ctx, tt.o)
			if err == nil {
				cs.Close()
				t.Fatal("NewConsumer succeeded")
			}
			if !mqerr.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q (kind %v), want kind %v saying %q on one line", err, mqerr.KindOf(err), tt.kind, tt.want)
			}
		})
	}
	if r.c.AMQP().IsClosed() {
		t.Fatal("the Conn's connection closed")
	}
}

// TestConsumeQueueDeleted: a queue deleted while consuming ends Next with
// a final NotFound error.
func TestConsumeQueueDeleted(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 1)
	l := &logs{}
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Logf: l.logf})
	ack(t, next(t, cs))
	if _, err := r.ach.QueueDelete(r.queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := cs.Next(ctx)
	if !mqerr.Is(err, mqerr.NotFound) || !strings.Contains(err.Error(), r.queue) || ctx.Err() != nil {
		t.Fatalf("Next after the queue was deleted: %v (kind %v), want NotFound naming it", err, mqerr.KindOf(err))
	}
	if _, again := cs.Next(ctx); again != err {
		t.Fatalf("second Next: %v, want the same final error", again)
	}
	t.Logf("error: %v; log: %s", err, l)
}

// TestConsumeClose: Close wakes a waiting Next, is idempotent, frees the
// connection, and makes later settles stale and Next fail.
func TestConsumeClose(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 1)
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}})
	d := next(t, cs)
	conn := cs.sess.Load().conn
	waiting := make(chan error, 1)
	go func() {
		_, err := cs.Next(context.Background())
		waiting <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	for range 2 {
		if err := cs.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, errConsumerClosed) {
			t.Fatalf("waiting Next returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the waiting Next")
	}
	if took := time.Since(start); took > testenv.Deadline(time.Second) || !conn.IsClosed() {
		t.Fatalf("Close took %v; connection closed: %v", took, conn.IsClosed())
	}
	if err := d.Ack(context.Background()); !errors.Is(err, broker.ErrStaleDelivery) {
		t.Fatalf("ack after Close: %v, want a stale delivery", err)
	}
	if _, err := cs.Next(context.Background()); !errors.Is(err, errConsumerClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if n := r.ready(t, 1); n != 1 {
		t.Fatalf("the unacked message is not back in the queue: %d ready", n)
	}
}

// TestConsumeStaleOnceTheChannelCloses: the broker closes the consuming
// channel (here for an ack of an unknown tag; consumer_timeout closes it
// the same way, PRECONDITION_FAILED) while deliveries are out. Stale says
// so for each of them before Next learnt of the close, their settles fail
// as stale, and the deliveries of the next channel are not stale.
func TestConsumeStaleOnceTheChannelCloses(t *testing.T) {
	r := newRig(t, nil)
	r.publishN(t, 3)
	l := &logs{}
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 10, Logf: l.logf})
	out := []*broker.Delivery{next(t, cs), next(t, cs)}
	for _, d := range out {
		if broker.IsStale(d) {
			t.Fatalf("%s is stale on an open channel", d.AMQP.MessageID)
		}
	}
	s := cs.sess.Load()
	if err := s.ch.Ack(1000, false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !broker.IsStale(out[0]) || !broker.IsStale(out[1]); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("deliveries of the closed channel not stale after 10s")
		}
	}
	if s.lost.Load() || s.conn.IsClosed() {
		t.Fatal("the test wants the channel closed alone, before Next learnt of it")
	}
	for _, d := range out {
		err := d.Ack(context.Background())
		if !errors.Is(err, broker.ErrStaleDelivery) {
			t.Fatalf("ack of stale %s: %v, want ErrStaleDelivery", d.AMQP.MessageID, err)
		}
		// PRECONDITION_FAILED, but not for consumer_timeout.
		if at := (*broker.AckTimeout)(nil); errors.As(err, &at) {
			t.Fatalf("ack of stale %s: %v: names an ack timeout", d.AMQP.MessageID, err)
		}
	}
	// The third, fetched before the close, may still come from the old
	// channel: stale, it is passed over.
	acked := consumeAll(t, cs, 3, func(_ int, d *broker.Delivery) bool {
		old := d.Settler.(*delivery).s == s
		if broker.IsStale(d) != old {
			t.Fatalf("%s from the old channel: %v; stale: %v", d.AMQP.MessageID, old, broker.IsStale(d))
		}
		return !old
	})
	if len(acked) != 3 || l.count("unknown delivery tag") != 1 || l.count("reconnected") != 1 {
		t.Fatalf("acked %v; log:\n%s", acked, l)
	}
}

// consumeAll reads until every id in want was acked, acking each delivery
// and settling held (a delivery from before a connection loss) when the
// first redelivery shows up. It returns how often each id was acked.
func consumeAll(t *testing.T, cs *consumer, want int, onDelivery func(i int, d *broker.Delivery) bool) map[string]int {
	t.Helper()
	acked := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; len(acked) < want; i++ {
		d, err := cs.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d acked: %v", len(acked), want, err)
		}
		if onDelivery != nil && !onDelivery(i, d) {
			continue
		}
		if acked[d.AMQP.MessageID] > 0 && !d.AMQP.Redelivered {
			t.Fatalf("%s came again without the redelivered mark", d.AMQP.MessageID)
		}
		if err := d.Ack(ctx); err != nil {
			if errors.Is(err, broker.ErrStaleDelivery) {
				continue
			}
			t.Fatalf("ack %s: %v", d.AMQP.MessageID, err)
		}
		acked[d.AMQP.MessageID]++
	}
	return acked
}

// TestConsumeReconnectAfterForcedClose: the broker closes the consumer's
// connection (through the management API) mid-stream. Next logs it,
// reconnects and goes on; a delivery from the old connection cannot be
// settled (stale) and comes again; every message is acked, none is lost.
func TestConsumeReconnectAfterForcedClose(t *testing.T) {
	const total, killAt = 300, 50
	r := newRig(t, nil)
	r.publishN(t, total)
	l := &logs{}
	cs := newConsumer(t, r.c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 20, Logf: l.logf})
	name := connectionName(t, r.env, cs.sess.Load().conn)
	var held *broker.Delivery
	acked := consumeAll(t, cs, total, func(i int, d *broker.Delivery) bool {
		if i != killAt {
			return true
		}
		held = d
		if err := r.env.Call(http.MethodDelete, "/api/connections/"+url.PathEscape(name), nil, nil); err != nil {
			t.Fatalf("close the consumer's connection through the management API: %v", err)
		}
		return false
	})
	err := held.Ack(context.Background())
	if at := (*broker.AckTimeout)(nil); !errors.Is(err, broker.ErrStaleDelivery) || errors.As(err, &at) {
		t.Fatalf("ack of a delivery from the closed connection: %v, want ErrStaleDelivery and no ack timeout", err)
	}
	if acked[held.AMQP.MessageID] == 0 {
		t.Fatalf("%s, unacked when the connection closed, never came again", held.AMQP.MessageID)
	}
	if l.count("rabbitmq connection lost: connection") != 1 || l.count("CONNECTION_FORCED") != 1 || l.count("reconnected") != 1 {
		t.Fatalf("log does not tell the loss and the reconnect once:\n%s", l)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 0); n != 0 {
		t.Fatalf("%d messages left in the queue after all %d were acked", n, total)
	}
}

// TestConsumeSurvivesOutage: the broker is unreachable for a while
// (connections cut and refused). Next keeps retrying with backoff instead
// of failing, and once it can connect again every message is acked.
func TestConsumeSurvivesOutage(t *testing.T) {
	const total, cutAt = 40, 10
	r := newRig(t, nil)
	r.publishN(t, total)
	u, err := url.Parse(r.env.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	px := testenv.NewProxy(t, u.Host)
	u.Host = px.Addr
	c := open(t, broker.Target{URL: u.String(), Timeout: 2 * time.Second})
	l := &logs{}
	cs := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{r.queue}, Prefetch: 5, Logf: l.logf})
	var restored time.Time
	var before int
	acked := consumeAll(t, cs, total, func(i int, d *broker.Delivery) bool {
		if i == cutAt {
			px.Down()
			before = px.Conns()
			restored = time.Now().Add(1500 * time.Millisecond)
			time.AfterFunc(1500*time.Millisecond, px.Up)
		}
		return true
	})
	if time.Now().Before(restored) {
		t.Fatalf("all %d acked before the outage ended: the proxy did not cut the consumer off", len(acked))
	}
	if px.Conns() == before {
		t.Fatalf("no new connection through the proxy after the outage")
	}
	if l.count("rabbitmq connection lost") != 1 || l.count("failed") == 0 || l.count("reconnected") != 1 {
		t.Fatalf("log does not show the loss, failed attempts and the reconnect:\n%s", l)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.ready(t, 0); n != 0 {
		t.Fatalf("%d messages left in the queue after all %d were acked", n, total)
	}
}

// fill publishes n copies of body to each of queues on ch (in confirm
// mode), taking turns so that no queue is filled before the other (the
// broker serves a queue filled first faster), and waits until the broker
// confirmed them all.
func fill(b *testing.B, ch *amqp.Channel, n int, body []byte, queues ...string) {
	b.Helper()
	total := n * len(queues)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, total))
	for range n {
		for _, q := range queues {
			if err := ch.Publish("", q, false, false, amqp.Publishing{Body: body}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range total {
		if c := <-confirms; !c.Ack {
			b.Fatalf("fill: message %d nacked", c.DeliveryTag)
		}
	}
}

// BenchmarkConsume compares mqctl's consumer with a minimal amqp091 loop
// with the same prefetch (100): 100-byte messages, each acked one by one,
// from a queue of its own filled beforehand. Run with -benchtime=50000x:
// each side consumes b.N messages, in rounds taking turns, so both see the
// same broker. It reports both rates and their ratio (mqctl / amqp091).
func BenchmarkConsume(b *testing.B) {
	const prefetch, round = 100, 5000
	env := testenv.RabbitMQ(b)
	ach := setup(b, env)
	if err := ach.Confirm(false); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	ourQueue := newQueue(b, ach, "bench-mqctl", nil)
	rawQueue := newQueue(b, ach, "bench-amqp091", nil)
	fill(b, ach, b.N, body, ourQueue, rawQueue)

	c, err := Open(context.Background(), broker.Target{URL: env.AMQPURL})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bc, err := c.NewConsumer(context.Background(), broker.ConsumerOptions{Sources: []string{ourQueue}, Prefetch: prefetch})
	if err != nil {
		b.Fatal(err)
	}
	defer bc.Close()
	ctx := context.Background()
	ours := func(n int) {
		for range n {
			d, err := bc.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}

	conn, err := amqp.Dial(env.AMQPURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		b.Fatal(err)
	}
	deliveries, err := ch.Consume(rawQueue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	raw := func(n int) {
		for range n {
			d := <-deliveries
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.ResetTimer()
	tOurs, tRaw := alternate(b.N, round, ours, raw)
	b.StopTimer()
	reportRates(b, tOurs, tRaw)
}

// ackTimeoutOf reads the close RabbitMQ 3.10.8 sends for consumer_timeout
// (this reason as measured on it) and nothing else.
func TestAckTimeoutOf(t *testing.T) {
	const reason = "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 2000 ms. This timeout value can be configured, see consumers doc guide to learn more"
	at := ackTimeoutOf(&amqp.Error{Code: amqp.PreconditionFailed, Reason: reason, Server: true})
	if at == nil || at.Limit != 2*time.Second || at.Setting != "consumer_timeout" || !strings.Contains(at.Raise, "x-consumer-timeout") {
		t.Fatalf("%+v", at)
	}
	if got := at.Error(); !strings.Contains(got, "(consumer_timeout = 2000 ms)") {
		t.Errorf("Error() = %q", got)
	}
	if at := ackTimeoutOf(&amqp.Error{Code: amqp.PreconditionFailed, Reason: "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out", Server: true}); at == nil || at.Limit != 0 {
		t.Errorf("without a value: %+v", at)
	}
	for _, e := range []*amqp.Error{
		{Code: amqp.PreconditionFailed, Reason: "PRECONDITION_FAILED - unknown delivery tag 1000", Server: true},
		{Code: amqp.ConnectionForced, Reason: "CONNECTION_FORCED - Closed via management plugin", Server: true},
		{Code: amqp.PreconditionFailed, Reason: reason},
	} {
		if at := ackTimeoutOf(e); at != nil {
			t.Errorf("%v: %+v", e, at)
		}
	}
}
