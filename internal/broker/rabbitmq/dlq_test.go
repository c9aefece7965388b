package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// dlxRig is a vhost of its own with a Conn to it and a confirm-mode
// channel on that connection for the setup.
type dlxRig struct {
	env *testenv.RabbitMQEnv
	vh  string
	c   *Conn
	ch  *amqp.Channel
}

func newDLXRig(t *testing.T) *dlxRig {
	t.Helper()
	env := testenv.RabbitMQ(t)
	r := &dlxRig{env: env, vh: env.NewVHost(t)}
	r.c = openVHost(t, env, r.vh, env.APIURL)
	ch, err := r.c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	r.ch = ch
	return r
}

func (r *dlxRig) exchange(t *testing.T, name, kind string) {
	t.Helper()
	if err := r.ch.ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange %s: %v", name, err)
	}
}

func (r *dlxRig) queue(t *testing.T, name string, args amqp.Table) {
	t.Helper()
	if _, err := r.ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare queue %s: %v", name, err)
	}
}

func (r *dlxRig) bind(t *testing.T, queue, key, exchange string) {
	t.Helper()
	if err := r.ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		t.Fatalf("bind %s to %s: %v", queue, exchange, err)
	}
}

// publish sends n messages stamped ts to queue through the default
// exchange and waits for the confirms; expire makes each expire at once,
// so the queue dead-letters it.
func (r *dlxRig) publish(t *testing.T, queue string, n int, ts time.Time, expire bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := amqp.Publishing{Body: []byte("dead"), Timestamp: ts}
	if expire {
		p.Expiration = "0"
	}
	for range n {
		dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish to %s not confirmed: %v", queue, err)
		}
	}
}

// TestDeadLetterDestinations: dead-letter queues found by argument (with a
// routing key, through the default exchange, winning over a policy), by
// policy, behind a fanout and through an exchange-to-exchange binding,
// quorum queues as source and DLQ, and by name; queues bound to a DLX
// under another key are not. The counts are what the broker dead-lettered
// into each, so a queue reported wrongly shows up as a wrong count.
func TestDeadLetterDestinations(t *testing.T) {
	t.Parallel()
	r := newDLXRig(t)
	quorum := amqp.Table{"x-queue-type": "quorum"}
	for _, x := range []struct{ name, kind string }{
		{"dlx-direct", amqp.ExchangeDirect}, {"dlx-topic", amqp.ExchangeTopic}, {"dlx-fan", amqp.ExchangeFanout},
		{"dlx-hop", amqp.ExchangeFanout}, {"dlx-hop2", amqp.ExchangeDirect},
	} {
		r.exchange(t, x.name, x.kind)
	}
	if err := r.ch.ExchangeBind("dlx-hop2", "", "dlx-hop", false, nil); err != nil {
		t.Fatal(err)
	}
	r.env.MustCall(t, http.MethodPut, "/api/policies/"+r.vh+"/dlxpol", map[string]any{
		"pattern": "^(ship|argwins)$", "apply-to": "queues",
		"definition": map[string]any{"dead-letter-exchange": "dlx-topic", "dead-letter-routing-key": "ship.dead"},
	}, nil)
	for _, q := range []struct {
		name string
		args amqp.Table
		// bind to exchange with key
		exchange, key string
	}{
		{name: "orders", args: amqp.Table{"x-dead-letter-exchange": "dlx-direct", "x-dead-letter-routing-key": "orders.dead"}},
		{name: "argwins", args: amqp.Table{"x-dead-letter-exchange": "dlx-direct", "x-dead-letter-routing-key": "orders.dead"}},
		{name: "orders-dead", exchange: "dlx-direct", key: "orders.dead"},
		{name: "other", exchange: "dlx-direct", key: "other"},
		{name: "pay", args: amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "pay-parked"}},
		{name: "pay-parked"},
		{name: "ship"},
		{name: "ship-dead", exchange: "dlx-topic", key: "ship.#"},
		{name: "nomatch", exchange: "dlx-topic", key: "other.*"},
		{name: "fan", args: amqp.Table{"x-dead-letter-exchange": "dlx-fan"}},
		{name: "fan-a", exchange: "dlx-fan"},
		{name: "fan-b", exchange: "dlx-fan"},
		{name: "hop", args: amqp.Table{"x-dead-letter-exchange": "dlx-hop", "x-dead-letter-routing-key": "hop.dead"}},
		{name: "hop-dead", exchange: "dlx-hop2", key: "hop.dead"},
		{name: "hop-other", exchange: "dlx-hop2", key: "x"},
		{name: "qsrc", args: amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "qq-dead"}},
		{name: "qq-dead", args: quorum},
		{name: "audit.dlq"},
		{name: "parked-x"},
	} {
		r.queue(t, q.name, q.args)
		if q.exchange != "" {
			r.bind(t, q.name, q.key, q.exchange)
		}
	}
	// A second binding that also matches: ship-dead is still one DLQ of ship.
	r.bind(t, "ship-dead", "#.dead", "dlx-topic")
	ts := time.Unix(time.Now().Unix()-3600, 0)
	for _, p := range []struct {
		queue  string
		n      int
		expire bool
	}{
		{"orders", 3, true}, {"argwins", 1, true}, {"pay", 1, true}, {"ship", 2, true},
		{"fan", 2, true}, {"hop", 1, true}, {"qsrc", 3, true}, {"audit.dlq", 5, false},
	} {
		r.publish(t, p.queue, p.n, ts, p.expire)
	}

	dlx := []broker.DeadLetterDestination{
		{Name: "fan-a", Messages: 2, Why: "dead-letter exchange of fan (argument)"},
		{Name: "fan-b", Messages: 2, Why: "dead-letter exchange of fan (argument)"},
		{Name: "hop-dead", Messages: 1, Why: "dead-letter exchange of hop (argument)"},
		{Name: "orders-dead", Messages: 4, Why: "dead-letter exchange of argwins (argument), orders (argument)"},
		{Name: "pay-parked", Messages: 1, Why: "dead-letter exchange of pay (argument)"},
		{Name: "qq-dead", Messages: 3, Why: "dead-letter exchange of qsrc (argument)"},
		{Name: "ship-dead", Messages: 2, Why: "dead-letter exchange of ship (policy dlxpol)"},
	}
	with := func(extra ...broker.DeadLetterDestination) []broker.DeadLetterDestination {
		out := append(append([]broker.DeadLetterDestination(nil), extra...), dlx...)
		for i := range out {
			out[i].Broker, out[i].Type = "rabbitmq", "queue"
			if out[i].Messages > 0 {
				out[i].Oldest = ts
			}
		}
		slices.SortFunc(out, func(a, b broker.DeadLetterDestination) int { return strings.Compare(a.Name, b.Name) })
		return out
	}
	tests := []struct {
		name     string
		patterns []string
		want     []broker.DeadLetterDestination
	}{
		{"default patterns", nil, with(broker.DeadLetterDestination{Name: "audit.dlq", Messages: 5, Why: "name matches *.dlq"})},
		{"own pattern", []string{"nothing", "parked-*"}, with(broker.DeadLetterDestination{Name: "parked-x", Why: "name matches parked-*"})},
		{"no patterns", []string{}, with()},
	}
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			// 3.10 tells no head timestamp of a quorum queue.
			waitDLQs(t, r.c, broker.DeadLetterQuery{Patterns: tt.patterns}, tt.want, "qq-dead")
		})
		if !ok {
			break
		}
	}
}

// TestDeadLetterDestinationsScanHeads: with ScanHeads, a classic queue
// holding dead letters that no dead-letter exchange leads to any more is
// found by its first message, which stays first; queues of plain messages,
// quorum queues and queues with a consumer are not listed, and without
// ScanHeads nothing is read.
func TestDeadLetterDestinationsScanHeads(t *testing.T) {
	t.Parallel()
	r := newDLXRig(t)
	// Dead-letter into orphan, qorphan and busy, then delete the sources:
	// nothing leads there any more.
	for _, q := range []struct {
		name string
		args amqp.Table
	}{{"orphan", nil}, {"qorphan", amqp.Table{"x-queue-type": "quorum"}}, {"busy", nil}, {"plain", nil}} {
		r.queue(t, q.name, q.args)
		if q.name == "plain" {
			continue
		}
		src := "src-" + q.name
		r.queue(t, src, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": q.name})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for _, body := range []string{"first", "second"} {
			dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, "", src, true, false, amqp.Publishing{Body: []byte(body), Expiration: "0"})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("publish to %s not confirmed: %v", src, err)
			}
		}
		cancel()
		waitReady(t, r.ch, q.name, 2)
		if _, err := r.ch.QueueDelete(src, false, false, false); err != nil {
			t.Fatal(err)
		}
	}
	r.publish(t, "plain", 3, time.Time{}, false)
	// Once the API counts busy's messages and no consumer, a consumer
	// comes: it holds one message, the other stays ready, and for about
	// a second the API still says nobody consumes busy.
	for deadline := time.Now().Add(20 * time.Second); ; {
		var q struct {
			Ready     *int `json:"messages_ready"`
			Consumers *int `json:"consumers"`
		}
		r.env.MustCall(t, http.MethodGet, "/api/queues/"+r.vh+"/busy", nil, &q)
		if q.Ready != nil && *q.Ready == 2 && q.Consumers != nil && *q.Consumers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API never counted busy's 2 messages: %+v", q)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cch, err := r.c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer cch.Close()
	if err := cch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := cch.Consume("busy", "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}

	orphan := broker.DeadLetterDestination{Broker: "rabbitmq", Type: "queue", Name: "orphan", Messages: 2,
		Why: "holds dead letters (x-death on its first message)"}
	waitDLQs(t, r.c, broker.DeadLetterQuery{Patterns: []string{}, ScanHeads: true}, []broker.DeadLetterDestination{orphan}, "")
	waitDLQs(t, r.c, broker.DeadLetterQuery{Patterns: []string{}}, nil, "")

	// Read and put back: orphan's first message is still first, and the
	// others kept every message.
	d, ok, err := r.ch.Get("orphan", false)
	if err != nil || !ok {
		t.Fatalf("get from orphan: %v %v", ok, err)
	}
	if string(d.Body) != "first" || !d.Redelivered || d.Headers["x-death"] == nil {
		t.Errorf("orphan's first message: body %q, redelivered %v, x-death %v", d.Body, d.Redelivered, d.Headers["x-death"])
	}
	if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.ch, "plain", 3)
	// busy's ready message was not read, though the API counted no
	// consumer on busy at first.
	if d, ok, err := r.ch.Get("busy", false); err != nil || !ok || d.Redelivered {
		t.Errorf("busy was read: ok %v, redelivered %v, %v", ok, d.Redelivered, err)
	} else if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r.ch, "qorphan", 2)
	if d, ok, err := r.ch.Get("qorphan", false); err != nil || !ok || d.Redelivered {
		t.Errorf("qorphan was read: ok %v, redelivered %v, %v", ok, d.Redelivered, err)
	} else if err := d.Nack(false, true); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits until queue has n ready messages, by passive declare.
func waitReady(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	if got := testenv.WaitQueue(t, ch, queue, 20*time.Second, func(q amqp.Queue) bool { return q.Messages == n }).Messages; got != n {
		t.Fatalf("queue %s has %d ready messages, want %d", queue, got, n)
	}
}

// waitDLQs polls DeadLetterDestinations until it returns want: the API
// shows counts and head timestamps a few seconds late. The queue named
// noOldest may have its Oldest or none.
func waitDLQs(t *testing.T, c *Conn, q broker.DeadLetterQuery, want []broker.DeadLetterDestination, noOldest string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := c.DeadLetterDestinations(ctx, q)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range got {
			if d.Name == noOldest && d.Oldest.IsZero() && i < len(want) {
				got[i].Oldest = want[i].Oldest
			}
		}
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DeadLetterDestinations never returned what was expected\n got: %+v\nwant: %+v", got, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDeadLetterDestinationsWithoutManagementAPI: the error wraps
// broker.ErrCannotList, is Unreachable, one line, and hides the password.
func TestDeadLetterDestinationsWithoutManagementAPI(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Wr0ng-pw"
	env := testenv.RabbitMQ(t)
	deadAPI := fmt.Sprintf("http://guest:%s@127.0.0.1:%d", secret, testenv.ClosedPort(t))
	c := openVHost(t, env, env.NewVHost(t), deadAPI)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := c.DeadLetterDestinations(ctx, broker.DeadLetterQuery{})
	if got != nil || !errors.Is(err, broker.ErrCannotList) || !mqerr.Is(err, mqerr.Unreachable) {
		t.Fatalf("got %v, %v; want an Unreachable error wrapping ErrCannotList", got, err)
	}
	for _, w := range []string{"management API", "connection refused", "--management-url"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error leaks the password or is not one line: %q", err)
	}
}

// TestPolicyOf: the effective policy the API gives wins; without it, the
// policy the queue names, else the highest-priority policy whose pattern
// and apply-to fit the queue.
func TestPolicyOf(t *testing.T) {
	def := func(x string) map[string]any { return map[string]any{"dead-letter-exchange": x} }
	f := &dlqFinder{policies: []policy{
		{Name: "low", Pattern: "^orders", ApplyTo: "all", Priority: 1, Definition: def("low")},
		{Name: "high", Pattern: "^orders", ApplyTo: "queues", Priority: 5, Definition: def("high")},
		{Name: "exchanges", Pattern: ".*", ApplyTo: "exchanges", Priority: 9, Definition: def("exchanges")},
		{Name: "quorum", Pattern: "^qq", ApplyTo: "quorum_queues", Definition: def("quorum")},
		{Name: "a-tie", Pattern: "^tie", ApplyTo: "all", Definition: def("a-tie")},
		{Name: "b-tie", Pattern: "^tie", ApplyTo: "all", Definition: def("b-tie")},
	}}
	for i := range f.policies {
		f.policies[i].re = regexp.MustCompile(f.policies[i].Pattern)
	}
	tests := []struct {
		name     string
		q        apiQueue
		qtype    string
		wantX    string
		wantName string
	}{
		{"effective wins", apiQueue{Name: "orders", Policy: "p", EffectivePolicy: json.RawMessage(`{"dead-letter-exchange":"eff"}`)}, "classic", "eff", "p"},
		{"effective empty", apiQueue{Name: "orders", EffectivePolicy: json.RawMessage(`{}`)}, "classic", "", ""},
		{"effective as empty list", apiQueue{Name: "orders", EffectivePolicy: json.RawMessage(`[]`)}, "classic", "", ""},
		{"named policy", apiQueue{Name: "orders", Policy: "low"}, "classic", "low", "low"},
		{"named policy unknown", apiQueue{Name: "orders", Policy: "gone"}, "classic", "", ""},
		{"highest priority", apiQueue{Name: "orders-1"}, "classic", "high", "high"},
		{"null effective", apiQueue{Name: "orders-1", EffectivePolicy: json.RawMessage(`null`)}, "classic", "high", "high"},
		{"apply-to quorum", apiQueue{Name: "qq1"}, "quorum", "quorum", "quorum"},
		{"apply-to quorum, classic queue", apiQueue{Name: "qq1"}, "classic", "", ""},
		{"tie by name", apiQueue{Name: "tie"}, "classic", "a-tie", "a-tie"},
		{"no match", apiQueue{Name: "zzz"}, "classic", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, name, err := f.policyOf(context.Background(), tt.q, tt.qtype)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := d["dead-letter-exchange"].(string)
			if x != tt.wantX || name != tt.wantName {
				t.Fatalf("got exchange %q from policy %q, want %q from %q", x, name, tt.wantX, tt.wantName)
			}
		})
	}
}

func TestTopicMatch(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.#", "a", true},
		{"a.#", "a.b.c", true},
		{"#", "", true},
		{"#", "x.y", true},
		{"#.z", "x.y.z", true},
		{"#.z", "x.y", false},
		{"*.#.c", "a.c", true},
		{"*.#.c", "c", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := topicMatch(strings.Split(tt.pattern, "."), strings.Split(tt.key, ".")); got != tt.want {
			t.Errorf("topicMatch(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}

func TestDLQWhy(t *testing.T) {
	tests := []struct {
		name     string
		sources  []string
		patterns []string
		want     string
		usage    bool
	}{
		{"one source", []string{"a (argument)"}, []string{"*"}, "dead-letter exchange of a (argument)", false},
		{"sorted, capped", []string{"e (argument)", "d (argument)", "c (policy p)", "b (argument)", "a (argument)"}, nil,
			"dead-letter exchange of a (argument), b (argument), c (policy p) and 2 more", false},
		{"first pattern", nil, []string{"x*", "*.dlq", "*"}, "name matches *.dlq", false},
		{"no match", nil, []string{"x*"}, "", false},
		{"bad pattern", nil, []string{"[x"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dlqWhy("q.dlq", tt.sources, tt.patterns)
			if tt.usage != mqerr.Is(err, mqerr.Usage) || (!tt.usage && err != nil) {
				t.Fatalf("error %v, want usage error: %v", err, tt.usage)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeadTime(t *testing.T) {
	for raw, want := range map[string]time.Time{
		"1795343764": time.Unix(1795343764, 0),
		"null":       {},
		`""`:         {},
		"0":          {},
		"":           {},
	} {
		if got := headTime(json.RawMessage(raw)); !got.Equal(want) {
			t.Errorf("headTime(%s) = %v, want %v", raw, got, want)
		}
	}
}

// TestPurge: queue.purge removes the ready messages of classic and quorum
// queues and says how many; unacked ones stay. A missing queue is
// NotFound and leaves the connection usable; a position is a usage error.
func TestPurge(t *testing.T) {
	t.Parallel()
	r := newDLXRig(t)
	r.queue(t, "classic", nil)
	r.queue(t, "quorum", amqp.Table{"x-queue-type": "quorum"})
	r.queue(t, "held", nil)
	r.publish(t, "classic", 4, time.Now(), false)
	r.publish(t, "quorum", 3, time.Now(), false)
	r.publish(t, "held", 5, time.Now(), false)
	hold(t, r.c, "held", 2)

	tests := []struct {
		name  string
		req   broker.PurgeRequest
		want  int64
		kind  mqerr.Kind
		names string
	}{
		{name: "classic", req: broker.PurgeRequest{Dest: "classic"}, want: 4},
		{name: "classic again", req: broker.PurgeRequest{Dest: "classic"}, want: 0},
		{name: "missing", req: broker.PurgeRequest{Dest: "nope"}, kind: mqerr.NotFound, names: `queue "nope"`},
		{name: "quorum", req: broker.PurgeRequest{Dest: "quorum"}, want: 3},
		{name: "unacked stay", req: broker.PurgeRequest{Dest: "held"}, want: 3},
		{name: "position", req: broker.PurgeRequest{Dest: "classic", Before: map[int32]int64{0: 5}}, kind: mqerr.Usage, names: "position"},
		{name: "no name", req: broker.PurgeRequest{}, kind: mqerr.Usage, names: "queue name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := r.c.Purge(ctx, tt.req)
			if tt.names != "" {
				if !mqerr.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.names) {
					t.Fatalf("got %d, %v; want a %v error naming %s", n, err, tt.kind, tt.names)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("got %d, %v; want %d purged", n, err, tt.want)
			}
		})
	}
	for queue, want := range map[string]int{"classic": 0, "quorum": 0, "held": 0} {
		q, err := r.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != want {
			t.Errorf("%s holds %d ready messages after the purge, want %d", queue, q.Messages, want)
		}
	}
}

// TestProducePerMessageDestination: each message goes where it says, to
// queues through the default exchange and through a bound exchange; an
// unroutable one fails as unroutable even when an identical message to
// another exchange is routable; a missing exchange fails only its message
// with NotFound; and after the broker closed the channel over an exchange
// deleted since it was checked, the producer goes on on a new one.
func TestProducePerMessageDestination(t *testing.T) {
	t.Parallel()
	r := newDLXRig(t)
	for _, q := range []string{"qa", "qb", "qc", "qd"} {
		r.queue(t, q, nil)
	}
	r.exchange(t, "x", amqp.ExchangeDirect)
	r.bind(t, "qc", "k", "x")
	r.exchange(t, "doomed", amqp.ExchangeFanout)
	r.bind(t, "qd", "", "doomed")
	p := newProducer(t, r.c, broker.ProducerOptions{PerMessageDestination: true, Mandatory: true, InFlight: 50,
		Destination: "ignored", DestinationIsQueue: true})

	to := func(exchange, key, body string) *broker.Message {
		return &broker.Message{Value: []byte(body), AMQP: broker.AMQPMeta{Exchange: exchange, RoutingKey: key}}
	}
	type want struct {
		kind mqerr.Kind
		text string // "" for success
	}
	ok := want{}
	unroutable := func(where, key string) want {
		return want{mqerr.Failure, fmt.Sprintf("unroutable: NO_ROUTE (312) via %s routing key %q", where, key)}
	}
	check := func(t *testing.T, msgs []*broker.Message, wants []want) {
		t.Helper()
		for i, o := range publishAll(t, p, msgs) {
			_, err := o.result()
			w := wants[i]
			switch {
			case w.text == "" && err != nil:
				t.Errorf("message %d (%s/%s) failed: %v", i, msgs[i].AMQP.Exchange, msgs[i].AMQP.RoutingKey, err)
			case w.text != "" && (err == nil || mqerr.KindOf(err) != w.kind || !strings.Contains(err.Error(), w.text)):
				t.Errorf("message %d (%s/%s): got %v, want a %v error saying %q", i, msgs[i].AMQP.Exchange, msgs[i].AMQP.RoutingKey, err, w.kind, w.text)
			}
		}
	}

	// Identical bodies and keys: only the exchange tells the unroutable
	// "" / "k" (no queue k) from the routable x / k.
	var msgs []*broker.Message
	var wants []want
	for i := range 90 {
		switch i % 6 {
		case 0:
			msgs, wants = append(msgs, to("", "qa", "m")), append(wants, ok)
		case 1:
			msgs, wants = append(msgs, to("", "qb", "m")), append(wants, ok)
		case 2, 3:
			msgs, wants = append(msgs, to("x", "k", "m")), append(wants, ok)
		case 4:
			msgs, wants = append(msgs, to("", "k", "m")), append(wants, unroutable("the default exchange", "k"))
		case 5:
			msgs, wants = append(msgs, to("x", "nokey", "m")), append(wants, unroutable(`exchange "x"`, "nokey"))
		}
	}
	msgs = append(msgs, to("missing", "k", "m"), to("", "qa", "after"))
	wants = append(wants, want{mqerr.NotFound, `exchange "missing" does not exist`}, ok)
	t.Run("mixed", func(t *testing.T) { check(t, msgs, wants) })

	t.Run("exchange deleted after its check", func(t *testing.T) {
		check(t, []*broker.Message{to("doomed", "", "d1")}, []want{ok})
		if err := r.ch.ExchangeDelete("doomed", false, false); err != nil {
			t.Fatal(err)
		}
		// The broker closes the channel: NOT_FOUND names the exchange.
		check(t, []*broker.Message{to("doomed", "", "d2")}, []want{{mqerr.NotFound, "no exchange 'doomed'"}})
		check(t, []*broker.Message{to("", "qa", "reopened"), to("x", "k", "reopened")}, []want{ok, ok})
		// Checked again, not sent: the channel stays open.
		check(t, []*broker.Message{to("doomed", "", "d3"), to("", "qb", "last")}, []want{{mqerr.NotFound, `exchange "doomed" does not exist`}, ok})
	})

	for queue, want := range map[string]int{"qa": 15 + 1 + 1, "qb": 15 + 1, "qc": 30 + 1, "qd": 1} {
		if got := len(drain(t, r.ch, queue)); got != want {
			t.Errorf("%s holds %d messages, want %d", queue, got, want)
		}
	}
}
