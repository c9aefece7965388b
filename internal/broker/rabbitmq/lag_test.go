package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// openVHost opens a connection to vhost with the given management URL.
func openVHost(t *testing.T, env *testenv.RabbitMQEnv, vhost, mgmtURL string) *Conn {
	t.Helper()
	u, err := url.Parse(env.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + vhost
	return open(t, broker.Target{URL: u.String(), ManagementURL: mgmtURL})
}

// publishConfirmed publishes n messages to queue and waits for each
// confirm. The channel stays open until t ends: the broker counts a
// queue's publishes (message_stats.publish) from its channels'
// statistics, and lost them now and then (1 run in about 8) for a
// channel closed at once.
func publishConfirmed(t *testing.T, c *Conn, queue string, n int) {
	t.Helper()
	ch, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{Body: fmt.Appendf(nil, "m%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("publish %d to %s not confirmed: %v", i, queue, err)
		}
	}
}

// hold starts a consumer on queue that takes n deliveries with manual ack
// and prefetch n, and never acks them while the test runs.
func hold(t *testing.T, c *Conn, queue string, n int) {
	t.Helper()
	ch, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.Qos(n, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case <-deliveries:
		case <-time.After(20 * time.Second):
			t.Fatalf("consumer on %s got fewer deliveries than its prefetch %d", queue, n)
		}
	}
}

// waitRow polls Lag until the row of queue satisfies ok. The API shows
// counts and rates a few seconds late (about 5 s on 3.10), so it waits up
// to a minute before failing with the last row seen.
func waitRow(t *testing.T, c *Conn, queue string, ok func(lag.Row) bool) lag.Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := broker.LagQuery{Match: func(name string) bool { return name == queue }}
	var last []lag.Row
	for {
		rows, err := c.Lag(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && ok(rows[0]) {
			return rows[0]
		}
		last = rows
		select {
		case <-ctx.Done():
			t.Fatalf("Lag never showed the expected row for %s; last: %+v", queue, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TestLagCounts: ready, unacked, consumers and lag are the broker's exact
// numbers, and so are the cumulative published and delivered counts (acked
// 0: missing from the API's message_stats); a queue that never saw a
// message has no counts (nil, not 0). The row follows the lag.Row
// contract for a queue.
func TestLagCounts(t *testing.T) {
	t.Parallel()
	const published, held = 7, 3
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	queue := "counts"
	declare(t, c, queue, nil)
	declare(t, c, "unused", nil)
	publishConfirmed(t, c, queue, published)
	hold(t, c, queue, held)

	got := waitRow(t, c, queue, func(r lag.Row) bool {
		return r.Ready == published-held && r.Unacked == held && r.Consumers == 1 &&
			r.Published != nil && *r.Published == published && r.Delivered != nil && *r.Delivered == held
	})
	if u := waitRow(t, c, "unused", func(lag.Row) bool { return true }); u.Published != nil || u.Delivered != nil || u.Acked != nil {
		t.Errorf("queue unused, which never saw a message: %+v, want no counts", u)
	}
	if got.PublishRate < 0 || got.DeliverRate < 0 {
		t.Errorf("negative rate: publish %v deliver %v", got.PublishRate, got.DeliverRate)
	}
	want := lag.Row{
		Broker: lag.BrokerRabbitMQ, Kind: lag.KindQueue, Queue: queue,
		Partition: lag.Unknown, Committed: lag.Unknown, End: lag.Unknown,
		Lag: published, Ready: published - held, Unacked: held, Consumers: 1,
		State: "running", Stats: lag.StatsSampled,
		// Rates move with time; nothing was acked, so the ack rate is 0
		// and the queue is not draining.
		PublishRate: got.PublishRate, DeliverRate: got.DeliverRate,
		Published: ptr(published), Delivered: ptr(held), Acked: ptr(0),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func ptr(n int64) *int64 { return &n }

// TestLagRates: the rate columns are wired: a queue with a steady
// publisher and an acking consumer shows all three rates above 0.
func TestLagRates(t *testing.T) {
	t.Parallel()
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	queue := "rates"
	declare(t, c, queue, nil)

	sub, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	deliveries, err := sub.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			d.Ack(false)
		}
	}()

	pub, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if pub.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{Body: []byte("x")}) != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped; pub.Close() })

	got := waitRow(t, c, queue, func(r lag.Row) bool {
		return r.PublishRate > 0 && r.DeliverRate > 0 && r.AckRate > 0
	})
	if got.Consumers != 1 {
		t.Errorf("consumers %d, want 1", got.Consumers)
	}
}

func TestLagMatch(t *testing.T) {
	t.Parallel()
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	for _, q := range []string{"payments", "orders-dlq", "orders"} {
		declare(t, c, q, nil)
	}
	tests := []struct {
		name  string
		match func(string) bool
		want  []string
	}{
		{name: "nil selects all", want: []string{"orders", "orders-dlq", "payments"}},
		{name: "prefix", match: func(n string) bool { return strings.HasPrefix(n, "orders") }, want: []string{"orders", "orders-dlq"}},
		{name: "one", match: func(n string) bool { return n == "payments" }, want: []string{"payments"}},
		{name: "none", match: func(string) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rows, err := c.Lag(ctx, broker.LagQuery{Match: tt.match})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Queue)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("rows for %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLagOneRequestPerPage: Lag costs one API request per page of queues,
// whatever the number of queues.
func TestLagOneRequestPerPage(t *testing.T) {
	t.Parallel()
	const queues = 30
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	want := declareNumbered(t, c, queues)
	tests := []struct {
		pageSize, wantRequests int
	}{
		{pageSize: 500, wantRequests: 1},
		{pageSize: 10, wantRequests: 3},
		{pageSize: 7, wantRequests: 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("page size %d", tt.pageSize), func(t *testing.T) {
			cc, counter := countingPages(c, tt.pageSize)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rows, err := cc.Lag(ctx, broker.LagQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Queue)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if n := counter.n.Load(); n != int64(tt.wantRequests) {
				t.Fatalf("%d requests for %d queues, want %d", n, queues, tt.wantRequests)
			}
		})
	}
}

// TestLagWithoutManagementAPI: with the API unreachable, Lag returns the
// error a command detects, and LagByName reads ready counts and consumers
// over AMQP.
func TestLagWithoutManagementAPI(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Wr0ng-pw"
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	deadAPI := fmt.Sprintf("http://guest:%s@127.0.0.1:%d", secret, testenv.ClosedPort(t))
	c := openVHost(t, env, vhost, deadAPI)

	for _, tt := range []struct {
		name  string
		match func(string) bool
		want  []string
	}{
		{name: "all queues", want: []string{"to list queues", "--management-url", "management_url", "connection refused", "name the queues"}},
		{name: "matched queues", match: func(string) bool { return true }, want: []string{"--management-url", "connection refused", "named literally"}},
	} {
		t.Run("Lag/"+tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rows, err := c.Lag(ctx, broker.LagQuery{Match: tt.match})
			if rows != nil || !errors.Is(err, ErrNoManagementAPI) || !mqerr.Is(err, mqerr.Unreachable) {
				t.Fatalf("Lag = %v, %v; want no rows and an Unreachable error wrapping ErrNoManagementAPI", rows, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error leaks the password or is not one line: %q", err)
			}
		})
	}

	declare(t, c, "busy", nil)
	declare(t, c, "empty", nil)
	publishConfirmed(t, c, "busy", 5)
	hold(t, c, "busy", 2)
	passive := func(queue string, ready int64, consumers int) lag.Row {
		return lag.Row{
			Broker: lag.BrokerRabbitMQ, Kind: lag.KindQueue, Queue: queue,
			Partition: lag.Unknown, Committed: lag.Unknown, End: lag.Unknown,
			Lag: ready, Ready: ready, Consumers: consumers, State: statePassive, Stats: lag.StatsPartial,
		}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	// The cases share the connection and run in order: after the broker
	// closed a channel for a missing queue, the next case still works.
	tests := []struct {
		name     string
		ctx      context.Context
		names    []string
		want     []lag.Row
		wantKind mqerr.Kind
		wantText string
	}{
		{
			name:  "ready and consumers, in order, once each",
			names: []string{"empty", "busy", "empty"},
			want:  []lag.Row{passive("empty", 0, 0), passive("busy", 3, 1)},
		},
		{
			name:     "missing queues between existing ones",
			names:    []string{"busy", "nope-1", "empty", "nope-2"},
			wantKind: mqerr.NotFound, wantText: `queues "nope-1", "nope-2" do not exist in vhost "` + vhost + `"`,
		},
		{
			name:     "one missing queue",
			names:    []string{"nope-1"},
			wantKind: mqerr.NotFound, wantText: `queue "nope-1" does not exist in vhost "` + vhost + `"`,
		},
		{name: "after the missing queues", names: []string{"busy"}, want: []lag.Row{passive("busy", 3, 1)}},
		{name: "no names", wantKind: mqerr.Usage, wantText: "needs queue names"},
		{name: "interrupted", ctx: canceled, names: []string{"busy"}, wantKind: mqerr.Interrupted, wantText: "interrupted"},
	}
	for _, tt := range tests {
		t.Run("LagByName/"+tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
			}
			rows, err := c.LagByName(ctx, tt.names)
			if tt.wantText != "" {
				if rows != nil || mqerr.KindOf(err) != tt.wantKind || !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("LagByName = %v, %v (kind %v); want kind %v saying %q", rows, err, mqerr.KindOf(err), tt.wantKind, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", rows, tt.want)
			}
		})
	}
}

// TestLagRow: rows from queues as the 3.10 API sends them, where counts,
// message_stats and single rates or cumulative counts may each be missing
// (a count missing from message_stats is 0: the operation never happened).
func TestLagRow(t *testing.T) {
	base := lag.Row{
		Broker: lag.BrokerRabbitMQ, Kind: lag.KindQueue, Queue: "q",
		Partition: lag.Unknown, Committed: lag.Unknown, End: lag.Unknown,
		Stats: lag.StatsSampled,
	}
	with := func(f func(*lag.Row)) lag.Row {
		r := base
		f(&r)
		return r
	}
	tests := []struct {
		name string
		api  string
		want lag.Row
	}{
		{
			name: "draining by acks",
			api: `{"name":"q","state":"running","messages_ready":4,"messages_unacknowledged":6,"consumers":2,
				"message_stats":{"publish":20,"deliver_get":16,"ack":10,
					"publish_details":{"rate":1.0},"deliver_get_details":{"rate":3.5},"ack_details":{"rate":3.0}}}`,
			want: with(func(r *lag.Row) {
				r.State, r.Ready, r.Unacked, r.Lag, r.Consumers = "running", 4, 6, 10, 2
				r.PublishRate, r.DeliverRate, r.AckRate, r.DrainTime = 1, 3.5, 3, 5*time.Second
				r.Published, r.Delivered, r.Acked = ptr(20), ptr(16), ptr(10)
			}),
		},
		{
			name: "draining by auto-ack deliveries and gets",
			api: `{"name":"q","state":"running","messages_ready":8,"messages_unacknowledged":0,"consumers":1,
				"message_stats":{"publish_details":{"rate":2.0},"deliver_get_details":{"rate":4.0},"deliver_no_ack_details":{"rate":3.0},"get_no_ack_details":{"rate":1.0}}}`,
			want: with(func(r *lag.Row) {
				r.State, r.Ready, r.Lag, r.Consumers = "running", 8, 8, 1
				r.PublishRate, r.DeliverRate, r.DrainTime = 2, 4, 4*time.Second
				r.Published, r.Delivered, r.Acked = ptr(0), ptr(0), ptr(0)
			}),
		},
		{
			name: "redelivered in a loop, never acked: not draining",
			api: `{"name":"q","state":"running","messages_ready":5,"messages_unacknowledged":1,"consumers":1,
				"message_stats":{"deliver_get_details":{"rate":100.0},"redeliver_details":{"rate":100.0}}}`,
			want: with(func(r *lag.Row) {
				r.State, r.Ready, r.Unacked, r.Lag, r.Consumers = "running", 5, 1, 6, 1
				r.DeliverRate = 100
				r.Published, r.Delivered, r.Acked = ptr(0), ptr(0), ptr(0)
			}),
		},
		{
			name: "never published to: no message_stats",
			api:  `{"name":"q","state":"idle","messages_ready":0,"messages_unacknowledged":0,"consumers":0}`,
			want: with(func(r *lag.Row) { r.State = "idle" }),
		},
		{
			name: "no statistics yet",
			api:  `{"name":"q"}`,
			want: with(func(r *lag.Row) { r.State, r.Stats = stateNoStats, lag.StatsAbsent }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a apiQueue
			if err := json.Unmarshal([]byte(tt.api), &a); err != nil {
				t.Fatal(err)
			}
			if got := lagRow(a); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDrainTime(t *testing.T) {
	tests := []struct {
		name    string
		n       int64
		in, out float64
		want    time.Duration
	}{
		{name: "draining", n: 100, in: 5, out: 15, want: 10 * time.Second},
		{name: "fractional", n: 1, in: 0, out: 4, want: 250 * time.Millisecond},
		{name: "empty", n: 0, in: 0, out: 10, want: 0},
		{name: "keeping pace", n: 100, in: 10, out: 10, want: 0},
		{name: "growing", n: 100, in: 10, out: 5, want: 0},
		{name: "no rates", n: 100, want: 0},
		{name: "capped", n: 1 << 40, in: 0, out: 1e-6, want: maxDrain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drainTime(tt.n, tt.in, tt.out); got != tt.want {
				t.Fatalf("drainTime(%d, %v, %v) = %v, want %v", tt.n, tt.in, tt.out, got, tt.want)
			}
		})
	}
}

// TestNamedQueuesReadExactly: right after messages are published the
// management API has no figures for a new queue, or old ones; the queues
// named in the query are read by passive declare, so their ready counts
// are exact however late the API is.
func TestNamedQueuesReadExactly(t *testing.T) {
	t.Parallel()
	const published = 101
	env := testenv.RabbitMQ(t)
	vhost := newVHost(t, env)
	c := openVHost(t, env, vhost, env.APIURL)
	declare(t, c, "named", nil)
	declare(t, c, "other", nil)
	publishConfirmed(t, c, "named", published)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	names := []string{"named", "nope"}
	rows, err := c.Lag(ctx, broker.LagQuery{Match: func(n string) bool { return slices.Contains(names, n) }, Names: names})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Queue != "named" || rows[0].Ready != published || rows[0].Lag != published ||
		(rows[0].Stats != lag.StatsExact && rows[0].Stats != lag.StatsBehind) {
		t.Fatalf("Lag rows %+v; want the exact ready count %d of queue named, and no row for nope", rows, published)
	}

	ds, err := c.List(ctx, broker.ListQuery{Names: names})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Name != "named" || ds[0].Ready == nil || *ds[0].Ready != published ||
		ds[0].Messages < published || (ds[0].Stats != lag.StatsExact && ds[0].Stats != lag.StatsBehind) {
		t.Fatalf("List %+v; want the exact ready count %d of queue named only", ds, published)
	}

	// Unnamed, a count is either the API's (sampled) or unknown (absent),
	// never a 0 that means "no figures yet".
	all, err := c.List(ctx, broker.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		switch d.Stats {
		case lag.StatsSampled:
			if d.Ready == nil || d.Unacked == nil {
				t.Errorf("%s: sampled without counts: %+v", d.Name, d)
			}
		case lag.StatsAbsent:
			if d.Ready != nil || d.Unacked != nil || d.Messages != 0 {
				t.Errorf("%s: absent with counts: %+v", d.Name, d)
			}
		default:
			t.Errorf("%s: stats %q in an unnamed listing", d.Name, d.Stats)
		}
	}
}

// RabbitMQ has no internal queues: asking is refused before any request,
// not ignored.
func TestRefusedOptions(t *testing.T) {
	t.Parallel()
	env := testenv.RabbitMQ(t)
	c := openVHost(t, env, newVHost(t, env), env.APIURL)
	if ds, err := c.List(context.Background(), broker.ListQuery{Internal: true}); ds != nil || !mqerr.Is(err, mqerr.Unsupported) || !strings.Contains(err.Error(), "no internal queues") {
		t.Errorf("List(Internal) = %v, %v", ds, err)
	}
}

// TestLagTimeLag publishes with a timestamp property 90 s in the past to a
// classic queue, which the management API then reports as its
// head_message_timestamp (once it has sampled the queue: polled, bounded),
// and checks the other queues stay unknown: a classic queue whose message
// has no timestamp, a quorum queue (3.10 does not report the head
// timestamp of one; a newer broker that does must give the right age),
// and a time lag not asked for.
func TestLagTimeLag(t *testing.T) {
	t.Parallel()
	env := testenv.RabbitMQ(t)
	c := openVHost(t, env, newVHost(t, env), env.APIURL)
	ch, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stamp := time.Now().Add(-90 * time.Second).Truncate(time.Second)
	for _, q := range []struct {
		name, typ string
		ts        time.Time
	}{{"stamped", "classic", stamp}, {"plain", "classic", time.Time{}}, {"quorum", "quorum", stamp}} {
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, amqp.Table{"x-queue-type": q.typ}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			// The second message is younger: the head is the first.
			ts := q.ts
			if !ts.IsZero() {
				ts = ts.Add(time.Duration(i) * 30 * time.Second)
			}
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.name, true, false, amqp.Publishing{Body: []byte("m"), Timestamp: ts})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := dc.WaitContext(ctx); !ok || err != nil {
				t.Fatalf("publish to %s not confirmed: %v", q.name, err)
			}
		}
	}
	var rows []lag.Row
	var before time.Time
	for {
		before = time.Now()
		rows, err = c.Lag(ctx, broker.LagQuery{TimeLag: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 3 && rows[2].TimeLag > 0 && rows[0].Ready == 2 && rows[1].Ready == 2 {
			break // sorted: plain, quorum, stamped
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the head timestamp of the stamped queue never showed: %+v", rows)
		case <-time.After(250 * time.Millisecond):
		}
	}
	after := time.Now()
	if r := rows[2]; r.TimeLag < before.Sub(stamp) || r.TimeLag > after.Sub(stamp) || r.TimeLagOf != lag.TimeLagOldestReady {
		t.Errorf("stamped: time lag %v of %q, want between %v and %v of %q", r.TimeLag, r.TimeLagOf, before.Sub(stamp), after.Sub(stamp), lag.TimeLagOldestReady)
	}
	if r := rows[0]; r.TimeLag != 0 || r.TimeLagOf != "" {
		t.Errorf("plain (no timestamp property): time lag %v, want unknown", r.TimeLag)
	}
	if r := rows[1]; r.TimeLag != 0 && (r.TimeLag < before.Sub(stamp) || r.TimeLag > after.Sub(stamp)) {
		t.Errorf("quorum: time lag %v, want unknown or between %v and %v", r.TimeLag, before.Sub(stamp), after.Sub(stamp))
	} else {
		t.Logf("quorum queue: time lag %v (0: the broker does not report its head timestamp)", r.TimeLag)
	}
	rows, err = c.Lag(ctx, broker.LagQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.TimeLag != 0 {
			t.Errorf("%s: time lag %v without TimeLag asked", r.Queue, r.TimeLag)
		}
	}
}
