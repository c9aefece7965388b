package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// setup is a plain amqp091 channel for declaring, binding and reading
// back, on a connection of its own.
func setup(t testing.TB, env *testenv.RabbitMQEnv) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(env.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// newQueue declares a durable queue, deleted when the test ends.
func newQueue(t testing.TB, ch *amqp.Channel, prefix string, args amqp.Table) string {
	t.Helper()
	name := testenv.UniqueName(t, prefix)
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare queue %s: %v", name, err)
	}
	t.Cleanup(func() { ch.QueueDelete(name, false, false, false) })
	return name
}

// newExchange declares an exchange of kind and binds queue to it with key
// and args; both are deleted when the test ends.
func newExchange(t testing.TB, ch *amqp.Channel, kind, queue, key string, args amqp.Table) string {
	t.Helper()
	name := testenv.UniqueName(t, "ex")
	if err := ch.ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange %s: %v", name, err)
	}
	t.Cleanup(func() { ch.ExchangeDelete(name, false, false) })
	if err := ch.QueueBind(queue, key, name, false, args); err != nil {
		t.Fatalf("bind %s to %s: %v", queue, name, err)
	}
	return name
}

func newProducer(t testing.TB, c *Conn, o broker.ProducerOptions) broker.Producer {
	t.Helper()
	p, err := c.NewProducer(context.Background(), o)
	if err != nil {
		t.Fatalf("NewProducer(%+v): %v", o, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// outcome is what done said about one message, and how often it said it.
type outcome struct {
	calls atomic.Int32
	mu    sync.Mutex
	r     broker.Receipt
	err   error
}

func (o *outcome) done(r broker.Receipt, err error) {
	o.mu.Lock()
	o.r, o.err = r, err
	o.mu.Unlock()
	o.calls.Add(1)
}

func (o *outcome) result() (broker.Receipt, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.r, o.err
}

// publishAll publishes msgs, flushes, and checks that each got exactly
// one done call.
func publishAll(t *testing.T, p broker.Producer, msgs []*broker.Message) []*outcome {
	t.Helper()
	out := make([]*outcome, len(msgs))
	for i, m := range msgs {
		out[i] = &outcome{}
		p.Publish(context.Background(), m, out[i].done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for i, o := range out {
		if n := o.calls.Load(); n != 1 {
			t.Fatalf("message %d: done called %d times", i, n)
		}
	}
	return out
}

// drain reads every message of queue, removing them.
func drain(t testing.TB, ch *amqp.Channel, queue string) []amqp.Delivery {
	t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// TestProduceDelivers: body, headers (text and binary), properties and the
// delivery mode arrive as sent, through a direct, a topic and the default
// exchange.
func TestProduceDelivers(t *testing.T) {
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)
	stamp := time.Unix(1700000000, 0)
	full := broker.Message{
		Value:     []byte("hello \x00\xff world"),
		Headers:   []broker.Header{{Key: "text", Value: []byte("plain")}, {Key: "bin", Value: []byte{0xff, 0x00, 0x01}}, {Key: "empty"}},
		Timestamp: stamp,
		AMQP: broker.AMQPMeta{
			RoutingKey: "k", ContentType: "application/octet-stream", MessageID: "m-1", CorrelationID: "c-1",
			ReplyTo: "replies", Expiration: "600000", Priority: 3, Type: "greeting", AppID: "mqctl-test",
		},
	}

	tests := []struct {
		name string
		// route declares what the producer publishes to and returns the
		// options and the exchange the delivery should name.
		route    func(queue string) (broker.ProducerOptions, string)
		msg      broker.Message
		wantMode uint8
		wantKey  string
	}{
		{
			name: "direct exchange, every field, persistent by option",
			route: func(q string) (broker.ProducerOptions, string) {
				x := newExchange(t, ach, amqp.ExchangeDirect, q, "k", nil)
				return broker.ProducerOptions{Destination: x, Mandatory: true, Persistent: true}, x
			},
			msg: full, wantMode: amqp.Persistent, wantKey: "k",
		},
		{
			name: "topic exchange with a routing key",
			route: func(q string) (broker.ProducerOptions, string) {
				x := newExchange(t, ach, amqp.ExchangeTopic, q, "orders.*", nil)
				return broker.ProducerOptions{Destination: x, Mandatory: true}, x
			},
			msg:     broker.Message{Value: []byte("order"), AMQP: broker.AMQPMeta{RoutingKey: "orders.created"}},
			wantKey: "orders.created",
		},
		{
			name: "queue through the default exchange, persistent by message",
			route: func(q string) (broker.ProducerOptions, string) {
				return broker.ProducerOptions{Destination: q, DestinationIsQueue: true, Mandatory: true}, ""
			},
			// The message's own routing key is ignored: --queue decides.
			msg:      broker.Message{Value: []byte("to the queue"), AMQP: broker.AMQPMeta{RoutingKey: "elsewhere", Persistent: true}},
			wantMode: amqp.Persistent,
		},
		{
			name: "default exchange by name, routing key = queue",
			route: func(q string) (broker.ProducerOptions, string) {
				return broker.ProducerOptions{Mandatory: true}, ""
			},
			msg: broker.Message{Value: []byte("by key")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue := newQueue(t, ach, "deliver", nil)
			o, wantExchange := tt.route(queue)
			msg := tt.msg
			wantKey := tt.wantKey
			if wantExchange == "" {
				wantKey = queue
				if !o.DestinationIsQueue {
					msg.AMQP.RoutingKey = queue
				}
			}
			p := newProducer(t, c, o)
			res := publishAll(t, p, []*broker.Message{&msg})
			if r, err := res[0].result(); err != nil || r.DeliveryTag != 1 {
				t.Fatalf("done(%+v, %v), want delivery tag 1 and no error", r, err)
			}
			got := drain(t, ach, queue)
			if len(got) != 1 {
				t.Fatalf("queue holds %d messages, want 1", len(got))
			}
			d := got[0]
			if string(d.Body) != string(msg.Value) || d.Exchange != wantExchange || d.RoutingKey != wantKey || d.DeliveryMode != tt.wantMode {
				t.Errorf("got body %q exchange %q key %q mode %d, want %q %q %q %d",
					d.Body, d.Exchange, d.RoutingKey, d.DeliveryMode, msg.Value, wantExchange, wantKey, tt.wantMode)
			}
			a := msg.AMQP
			gotProps := []string{d.ContentType, d.MessageId, d.CorrelationId, d.ReplyTo, d.Expiration, strconv.Itoa(int(d.Priority)), d.Type, d.AppId}
			wantProps := []string{a.ContentType, a.MessageID, a.CorrelationID, a.ReplyTo, a.Expiration, strconv.Itoa(int(a.Priority)), a.Type, a.AppID}
			if !reflect.DeepEqual(gotProps, wantProps) {
				t.Errorf("properties %q, want %q", gotProps, wantProps)
			}
			if !d.Timestamp.Equal(msg.Timestamp) {
				t.Errorf("timestamp %v, want %v", d.Timestamp, msg.Timestamp)
			}
			wantHeaders := amqp.Table{}
			for _, h := range msg.Headers {
				wantHeaders[h.Key] = headerValue(h)
			}
			if len(msg.Headers) == 0 {
				wantHeaders = nil
			}
			if !reflect.DeepEqual(d.Headers, wantHeaders) {
				t.Errorf("headers %#v, want %#v", d.Headers, wantHeaders)
			}
			if _, ok := d.Headers["bin"].([]byte); len(msg.Headers) > 0 && !ok {
				t.Errorf("binary header arrived as %T, want a byte array", d.Headers["bin"])
			}
		})
	}
}

// TestProduceUnroutable: with mandatory, each message fails exactly when
// it was unroutable, even with routable and unroutable messages mixed in
// one in-flight window and bodies alike; the routable ones are confirmed
// and in the queue.
func TestProduceUnroutable(t *testing.T) {
	const n = 600
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)

	tests := []struct {
		name string
		kind string
		key  string
		args amqp.Table
		// msg builds message i and says whether it is routable.
		msg func(i int) (*broker.Message, bool)
		// ids: messages carry unique ids, so the queue must hold exactly
		// the confirmed ones, not only as many.
		ids bool
	}{
		{
			name: "topic, identical bodies, alternating keys",
			kind: amqp.ExchangeTopic, key: "ok.*",
			msg: func(i int) (*broker.Message, bool) {
				key := "ok.x"
				if i%2 == 1 {
					key = "nope.x"
				}
				return &broker.Message{Value: []byte("same"), AMQP: broker.AMQPMeta{RoutingKey: key}}, i%2 == 0
			},
		},
		{
			name: "direct, runs of unroutable, unique ids",
			kind: amqp.ExchangeDirect, key: "in",
			msg: func(i int) (*broker.Message, bool) {
				routable := i%7 < 3
				key := "in"
				if !routable {
					key = "out"
				}
				return &broker.Message{Value: []byte("same"), AMQP: broker.AMQPMeta{RoutingKey: key, MessageID: strconv.Itoa(i)}}, routable
			},
			ids: true,
		},
		{
			name: "headers exchange: only a header value differs",
			kind: amqp.ExchangeHeaders, args: amqp.Table{"x-match": "all", "route": "yes"},
			msg: func(i int) (*broker.Message, bool) {
				routable := i%3 != 0
				v := "yes"
				if !routable {
					v = "no"
				}
				return &broker.Message{Value: []byte("same"), Headers: []broker.Header{{Key: "route", Value: []byte(v)}}}, routable
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue := newQueue(t, ach, "unroutable", nil)
			x := newExchange(t, ach, tt.kind, queue, tt.key, tt.args)
			p := newProducer(t, c, broker.ProducerOptions{Destination: x, Mandatory: true, InFlight: 64})
			msgs := make([]*broker.Message, n)
			routable := make([]bool, n)
			for i := range msgs {
				msgs[i], routable[i] = tt.msg(i)
			}
			res := publishAll(t, p, msgs)
			confirmed := map[string]bool{}
			wantInQueue := 0
			for i, o := range res {
				r, err := o.result()
				if routable[i] {
					wantInQueue++
					if err != nil {
						t.Errorf("routable message %d failed: %v", i, err)
					}
					if r.DeliveryTag != uint64(i+1) {
						t.Errorf("message %d: delivery tag %d, want %d", i, r.DeliveryTag, i+1)
					}
					confirmed[msgs[i].AMQP.MessageID] = true
					continue
				}
				want := fmt.Sprintf("unroutable: NO_ROUTE (312) via exchange %q routing key %q", x, msgs[i].AMQP.RoutingKey)
				if err == nil || err.Error() != want {
					t.Errorf("unroutable message %d: got %v, want %q", i, err, want)
				}
			}
			got := drain(t, ach, queue)
			if len(got) != wantInQueue {
				t.Fatalf("queue holds %d messages, want %d", len(got), wantInQueue)
			}
			if tt.ids {
				for _, d := range got {
					if !confirmed[d.MessageId] {
						t.Errorf("message %s is in the queue but was not confirmed", d.MessageId)
					}
				}
			}
		})
	}
}

// TestProduceRejectPublish: a queue at its length limit with x-overflow
// reject-publish nacks what comes past the limit; those fail, the rest
// are confirmed.
func TestProduceRejectPublish(t *testing.T) {
	const limit, n = 5, 12
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)
	queue := newQueue(t, ach, "overflow", amqp.Table{"x-max-length": int32(limit), "x-overflow": "reject-publish"})
	p := newProducer(t, c, broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, Mandatory: true})
	msgs := make([]*broker.Message, n)
	for i := range msgs {
		msgs[i] = &broker.Message{Value: []byte("m"), AMQP: broker.AMQPMeta{MessageID: strconv.Itoa(i)}}
	}
	res := publishAll(t, p, msgs)
	for i, o := range res {
		_, err := o.result()
		switch {
		case i < limit && err != nil:
			t.Errorf("message %d failed: %v", i, err)
		case i >= limit && !errors.Is(err, errNacked):
			t.Errorf("message %d past the limit: got %v, want %q", i, err, errNacked)
		}
	}
	got := drain(t, ach, queue)
	var ids []string
	for _, d := range got {
		ids = append(ids, d.MessageId)
	}
	if want := []string{"0", "1", "2", "3", "4"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("queue holds %q, want %q", ids, want)
	}
}

// TestProduceRejectsBadMessages: what RabbitMQ would answer by closing the
// channel fails only that message; the producer goes on.
func TestProduceRejectsBadMessages(t *testing.T) {
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)
	queue := newQueue(t, ach, "bad", nil)
	p := newProducer(t, c, broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, Mandatory: true})
	long := strings.Repeat("x", 256)
	tests := []struct {
		name string
		msg  broker.Message
		want string
	}{
		{name: "repeated header", msg: broker.Message{Headers: []broker.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}}, want: `repeated header name "a" cannot be sent to RabbitMQ`},
		{name: "expiration not a number", msg: broker.Message{AMQP: broker.AMQPMeta{Expiration: "soon"}}, want: `expiration "soon" is not a whole number of milliseconds`},
		{name: "negative expiration", msg: broker.Message{AMQP: broker.AMQPMeta{Expiration: "-1"}}, want: `expiration "-1"`},
		{name: "long message id", msg: broker.Message{AMQP: broker.AMQPMeta{MessageID: long}}, want: "message id is 256 bytes long; AMQP allows at most 255"},
		{name: "long header name", msg: broker.Message{Headers: []broker.Header{{Key: long}}}, want: "header name is 256 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := publishAll(t, p, []*broker.Message{&tt.msg})
			if _, err := res[0].result(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	res := publishAll(t, p, []*broker.Message{{Value: []byte("fine")}})
	if _, err := res[0].result(); err != nil {
		t.Fatalf("a good message after the bad ones failed: %v", err)
	}
	if got := drain(t, ach, queue); len(got) != 1 || string(got[0].Body) != "fine" {
		t.Fatalf("queue holds %d messages, want only the good one", len(got))
	}
}

func TestNewProducerErrors(t *testing.T) {
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	tests := []struct {
		name     string
		opts     broker.ProducerOptions
		wantKind mqerr.Kind
		want     string
	}{
		{name: "missing exchange", opts: broker.ProducerOptions{Destination: "no-such-exchange"}, wantKind: mqerr.NotFound, want: `rabbitmq at ` + c.Addr() + `: exchange "no-such-exchange" does not exist in vhost "/"`},
		{name: "missing queue", opts: broker.ProducerOptions{Destination: "no-such-queue", DestinationIsQueue: true}, wantKind: mqerr.NotFound, want: `queue "no-such-queue" does not exist in vhost "/"`},
		{name: "queue without a name", opts: broker.ProducerOptions{DestinationIsQueue: true}, wantKind: mqerr.Usage, want: "a queue name to publish to is required"},
		{name: "negative window", opts: broker.ProducerOptions{InFlight: -1}, wantKind: mqerr.Usage, want: "in-flight window must be positive"},
		{name: "negative timeout", opts: broker.ProducerOptions{ConfirmTimeout: -time.Second}, wantKind: mqerr.Usage, want: "confirm timeout must be positive"},
		{name: "default exchange", opts: broker.ProducerOptions{}},
		{name: "built-in exchange", opts: broker.ProducerOptions{Destination: "amq.topic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.NewProducer(context.Background(), tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewProducer: %v", err)
				}
				if err := p.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatal("NewProducer succeeded")
			}
			if mqerr.KindOf(err) != tt.wantKind || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (kind %v), want kind %v saying %q", err, mqerr.KindOf(err), tt.wantKind, tt.want)
			}
		})
	}
	// The failed checks closed only their own channels.
	if c.AMQP().IsClosed() {
		t.Fatal("the connection closed")
	}
}

// connectionName finds the broker's name for conn (by its client port).
func connectionName(t *testing.T, env *testenv.RabbitMQEnv, conn *amqp.Connection) string {
	t.Helper()
	port := conn.LocalAddr().(*net.TCPAddr).Port
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var conns []struct {
			Name     string `json:"name"`
			PeerPort int    `json:"peer_port"`
		}
		env.MustCall(t, http.MethodGet, "/api/connections?columns=name,peer_port", nil, &conns)
		for _, c := range conns {
			if c.PeerPort == port {
				return c.Name
			}
		}
	}
	t.Fatalf("the management API does not list the connection from port %d", port)
	return ""
}

// TestProduceConnectionClosed: the broker closes the connection while
// thousands of messages are in flight. Every message gets exactly one
// done; every one reported confirmed is in the queue; the failed ones say
// why; later publishes fail at once with the same reason.
func TestProduceConnectionClosed(t *testing.T) {
	const limit, killAfter = 200000, 2000
	env := testenv.RabbitMQ(t)
	ach := setup(t, env)
	queue := newQueue(t, ach, "killed", nil)
	c := open(t, broker.Target{URL: env.AMQPURL})
	name := connectionName(t, env, c.AMQP())
	p := newProducer(t, c, broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, Mandatory: true, Persistent: true})

	var confirmedN, failedN atomic.Int64
	kill := make(chan struct{})
	res := make([]*outcome, 0, limit)
	for i := 0; i < limit && failedN.Load() == 0; i++ {
		o := &outcome{}
		res = append(res, o)
		p.Publish(context.Background(), &broker.Message{Value: []byte("payload"), AMQP: broker.AMQPMeta{MessageID: strconv.Itoa(i)}}, func(r broker.Receipt, err error) {
			o.done(r, err)
			if err != nil {
				failedN.Add(1)
			} else if confirmedN.Add(1) == killAfter {
				close(kill)
			}
		})
		select {
		case <-kill:
			// From another goroutine, so that publishing goes on meanwhile.
			kill = nil
			go func() {
				if err := env.Call(http.MethodDelete, "/api/connections/"+url.PathEscape(name), nil, nil); err != nil {
					t.Errorf("close the connection through the management API: %v", err)
				}
			}()
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if failedN.Load() == 0 {
		t.Fatalf("all %d messages were confirmed: the connection was not closed mid-stream", len(res))
	}
	const reason = "connection closed: CONNECTION_FORCED"
	confirmed := map[string]bool{}
	for i, o := range res {
		if n := o.calls.Load(); n != 1 {
			t.Fatalf("message %d: done called %d times", i, n)
		}
		r, err := o.result()
		switch {
		case err == nil:
			confirmed[strconv.Itoa(i)] = true
			if r.DeliveryTag != uint64(i+1) {
				t.Fatalf("message %d confirmed with delivery tag %d", i, r.DeliveryTag)
			}
		case !strings.Contains(err.Error(), reason):
			t.Fatalf("message %d failed with %q, want it to say %q", i, err, reason)
		}
	}
	t.Logf("%d published: %d confirmed, %d failed", len(res), confirmedN.Load(), failedN.Load())

	late := &outcome{}
	start := time.Now()
	p.Publish(context.Background(), &broker.Message{Value: []byte("late")}, late.done)
	if _, err := late.result(); late.calls.Load() != 1 || err == nil || !strings.Contains(err.Error(), reason) || time.Since(start) > testenv.Deadline(0) {
		t.Fatalf("Publish after the close: %d done calls, error %v", late.calls.Load(), err)
	}

	// Read the queue back: every confirmed message is there. (Failed ones
	// may be there too: the broker may have stored them without telling.)
	seen := map[string]bool{}
	for _, d := range drainConsume(t, ach, queue) {
		seen[d.MessageId] = true
	}
	for id := range confirmed {
		if !seen[id] {
			t.Errorf("message %s was confirmed but is not in the queue", id)
		}
	}
	if len(seen) < len(confirmed) {
		t.Fatalf("queue holds %d distinct messages, fewer than the %d confirmed", len(seen), len(confirmed))
	}
}

// drainConsume reads queue empty with a consumer, faster than basic.get
// for thousands of messages.
func drainConsume(t *testing.T, ch *amqp.Channel, queue string) []amqp.Delivery {
	t.Helper()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(1000, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]amqp.Delivery, 0, q.Messages)
	timeout := time.After(60 * time.Second)
	for len(out) < q.Messages {
		select {
		case d := <-ds:
			out = append(out, d)
			if len(out)%500 == 0 || len(out) == q.Messages {
				d.Ack(true)
			}
		case <-timeout:
			t.Fatalf("read %d of %d messages", len(out), q.Messages)
		}
	}
	return out
}

// TestProduceWindowAndCancel: Publish waits while the window is full; when
// its ctx ends meanwhile, done gets ctx's error. Flush waits for every
// done call. The window is kept full by a done call that has not returned.
func TestProduceWindowAndCancel(t *testing.T) {
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)
	queue := newQueue(t, ach, "window", nil)
	p := newProducer(t, c, broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, InFlight: 1})

	release := make(chan struct{})
	first := make(chan error, 1)
	p.Publish(context.Background(), &broker.Message{Value: []byte("first")}, func(_ broker.Receipt, err error) {
		first <- err
		<-release
	})
	if err := <-first; err != nil {
		t.Fatalf("first message: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	second := &outcome{}
	returned := make(chan struct{})
	go func() {
		p.Publish(ctx, &broker.Message{Value: []byte("second")}, second.done)
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Publish returned while the window was full")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	<-returned
	if _, err := second.result(); second.calls.Load() != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("second message: %d done calls, error %v; want context.Canceled", second.calls.Load(), err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := p.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while a done call runs: %v, want the deadline", err)
	}
	close(release)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := drain(t, ach, queue); len(got) != 1 || string(got[0].Body) != "first" {
		t.Fatalf("queue holds %d messages, want only the first", len(got))
	}
}

// TestProduceConfirmTimeout: messages whose confirm does not come in time
// fail once; their late acks do not call done again; the producer goes on.
func TestProduceConfirmTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	env := testenv.RabbitMQ(t)
	ach := setup(t, env)
	queue := newQueue(t, ach, "timeout", nil)
	u, _ := url.Parse(env.AMQPURL)
	px := testenv.NewProxy(t, u.Host)
	u.Host = px.Addr
	c := open(t, broker.Target{URL: u.String()})
	p := newProducer(t, c, broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, ConfirmTimeout: timeout})
	// Runs before the producer's Close, which needs the broker's answer.
	t.Cleanup(px.Resume)

	px.Pause()
	held := make([]*outcome, 3)
	start := time.Now()
	for i := range held {
		held[i] = &outcome{}
		p.Publish(context.Background(), &broker.Message{Value: []byte("held")}, held[i].done)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if took := time.Since(start); took < timeout || took > testenv.Deadline(timeout) {
		t.Errorf("messages failed after %v, want about %v", took, timeout)
	}
	for i, o := range held {
		if _, err := o.result(); err == nil || err.Error() != "no confirm within 300ms" {
			t.Errorf("message %d: %v, want no confirm within 300ms", i, err)
		}
	}
	px.Resume()

	res := publishAll(t, p, []*broker.Message{{Value: []byte("after")}})
	if r, err := res[0].result(); err != nil || r.DeliveryTag != 4 {
		t.Fatalf("message after the pause: done(%+v, %v), want delivery tag 4", r, err)
	}
	for i, o := range held {
		if n := o.calls.Load(); n != 1 {
			t.Errorf("message %d: done called %d times", i, n)
		}
	}
}

// TestProduceClose: Close reports every message still in flight and
// later publishes fail at once.
func TestProduceClose(t *testing.T) {
	const n = 3000
	env := testenv.RabbitMQ(t)
	c := open(t, broker.Target{URL: env.AMQPURL})
	ach := setup(t, env)
	queue := newQueue(t, ach, "close", nil)
	p, err := c.NewProducer(context.Background(), broker.ProducerOptions{Destination: queue, DestinationIsQueue: true, Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	res := make([]*outcome, n)
	for i := range res {
		res[i] = &outcome{}
		p.Publish(context.Background(), &broker.Message{Value: []byte("m")}, res[i].done)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var failed int
	for i, o := range res {
		if n := o.calls.Load(); n != 1 {
			t.Fatalf("message %d: done called %d times by the time Close returned", i, n)
		}
		if _, err := o.result(); err != nil {
			failed++
			if !strings.Contains(err.Error(), "closed before the broker confirmed") {
				t.Fatalf("message %d: %v", i, err)
			}
		}
	}
	t.Logf("%d confirmed, %d failed by Close", n-failed, failed)
	late := &outcome{}
	p.Publish(context.Background(), &broker.Message{Value: []byte("late")}, late.done)
	if _, err := late.result(); late.calls.Load() != 1 || err == nil || !strings.Contains(err.Error(), "the producer is closed") {
		t.Fatalf("Publish after Close: %d done calls, error %v", late.calls.Load(), err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// BenchmarkProduce compares mqctl's producer with a minimal amqp091 loop
// using the same window: persistent 100-byte messages with confirms, each
// to a durable queue of its own. Run with -benchtime=50000x: each side
// publishes b.N messages, in rounds taking turns, so that both see the
// same broker (which warms up, and shares the machine). It reports both
// rates and their ratio (mqctl / amqp091).
func BenchmarkProduce(b *testing.B) {
	const window, round = 1000, 5000
	env := testenv.RabbitMQ(b)
	ach := setup(b, env)
	body := make([]byte, 100)

	c, err := Open(context.Background(), broker.Target{URL: env.AMQPURL})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := newProducer(b, c, broker.ProducerOptions{
		Destination: newQueue(b, ach, "bench-mqctl", nil), DestinationIsQueue: true,
		Persistent: true, Mandatory: true, InFlight: window,
	})
	var failed atomic.Int64
	msg := &broker.Message{Value: body}
	done := func(_ broker.Receipt, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	ours := func(n int) {
		for range n {
			p.Publish(context.Background(), msg, done)
		}
		if err := p.Flush(context.Background()); err != nil {
			b.Fatal(err)
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
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	rawQueue := newQueue(b, ach, "bench-amqp091", nil)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window))
	slots := make(chan struct{}, window)
	var nacked atomic.Int64
	go func() {
		for c := range confirms {
			if !c.Ack {
				nacked.Add(1)
			}
			<-slots
		}
	}()
	raw := func(n int) {
		for range n {
			slots <- struct{}{}
			if err := ch.Publish("", rawQueue, true, false, amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent}); err != nil {
				b.Fatal(err)
			}
		}
		// Every slot free again: every message confirmed.
		for range window {
			slots <- struct{}{}
		}
		for range window {
			<-slots
		}
	}

	b.ResetTimer()
	tOurs, tRaw := alternate(b.N, round, ours, raw)
	b.StopTimer()
	if failed.Load() > 0 || nacked.Load() > 0 {
		b.Fatalf("%d messages failed, %d nacked", failed.Load(), nacked.Load())
	}
	reportRates(b, tOurs, tRaw)
}

// alternate runs ours and raw over total messages in rounds of round,
// timing each. Whichever goes second in a round is faster (the broker is
// still warm from the first), so the order alternates.
func alternate(total, round int, ours, raw func(n int)) (tOurs, tRaw time.Duration) {
	timed := func(f func(int), n int) time.Duration {
		start := time.Now()
		f(n)
		return time.Since(start)
	}
	for i, left := 0, total; left > 0; i, left = i+1, left-round {
		n := min(left, round)
		if i%2 == 0 {
			tOurs += timed(ours, n)
			tRaw += timed(raw, n)
		} else {
			tRaw += timed(raw, n)
			tOurs += timed(ours, n)
		}
	}
	return tOurs, tRaw
}

// reportRates reports both rates per b.N messages and their ratio.
func reportRates(b *testing.B, tOurs, tRaw time.Duration) {
	b.ReportMetric(float64(b.N)/tOurs.Seconds(), "mqctl-msgs/s")
	b.ReportMetric(float64(b.N)/tRaw.Seconds(), "amqp091-msgs/s")
	b.ReportMetric(tRaw.Seconds()/tOurs.Seconds(), "ratio")
}

// TestClosingOnErrClosed pins the race behind the old flake of
// TestProduceConnectionClosed: amqp091 refuses a publish with ErrClosed
// ("channel/connection is not open") once the connection is closed, while
// the channel itself still reads open. Such a publish must be left to run,
// which fails it with the broker's reason (CONNECTION_FORCED), not failed
// at once with the library's text.
func TestClosingOnErrClosed(t *testing.T) {
	ch := setup(t, testenv.RabbitMQ(t))
	if ch.IsClosed() {
		t.Fatal("the channel is closed before the test")
	}
	if !closing(ch, fmt.Errorf("publish: %w", amqp.ErrClosed)) {
		t.Error("closing(open channel, ErrClosed) = false: the publish would fail with the library's text")
	}
	if closing(ch, errors.New("frame too large")) {
		t.Error("closing(open channel, another error) = true: the publish would wait for a close that never comes")
	}
}
