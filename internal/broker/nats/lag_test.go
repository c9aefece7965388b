package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// publishN stores n messages on subject and fails t unless each is confirmed.
func publishN(t *testing.T, ctx context.Context, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := range n {
		if _, err := js.Publish(ctx, subject, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("publish to %s: %v", subject, err)
		}
	}
}

// fetch pulls exactly n messages from a pull consumer.
func fetch(t *testing.T, c jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d messages, want %d", len(msgs), n)
	}
	return msgs
}

// fetchAck pulls n messages and acks each, waiting for the server's
// confirmation so that the consumer info already reflects the acks.
func fetchAck(t *testing.T, ctx context.Context, c jetstream.Consumer, n int) {
	t.Helper()
	for _, m := range fetch(t, c, n) {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func pullConsumer(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) jetstream.Consumer {
	t.Helper()
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		t.Fatalf("create consumer %s on %s: %v", cfg.Durable, stream, err)
	}
	return c
}

// rowID names a row in failure messages and expectations.
func rowID(r lag.Row) string { return r.Stream + "/" + r.Consumer }

func TestLag(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	js := conn.JetStream()
	start := time.Now()

	createStream(t, ctx, js, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}})
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "EMPTY", Subjects: []string{"empty.>"}})
	publishN(t, ctx, js, "orders.new", 10)
	publishN(t, ctx, js, "other.new", 2)
	publishN(t, ctx, js, "empty.new", 3)

	acked := pullConsumer(t, ctx, js, "ORDERS", jetstream.ConsumerConfig{Durable: "acked", AckPolicy: jetstream.AckExplicitPolicy})
	fetchAck(t, ctx, acked, 4)

	// worker acks 4, then holds 3 unacked, one of which it Naks and gets
	// again: that one is redelivered.
	worker := pullConsumer(t, ctx, js, "ORDERS", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	fetchAck(t, ctx, worker, 4)
	held := fetch(t, worker, 3)
	// Msg.Nak does not wait for the server, so the next pull could
	// overtake it; as a request, the server's reply says it was processed.
	if _, err := conn.NATS().RequestWithContext(ctx, held[0].Reply(), []byte("-NAK")); err != nil {
		t.Fatalf("nak: %v", err)
	}
	again := fetch(t, worker, 1)
	if md, err := again[0].Metadata(); err != nil || md.NumDelivered != 2 || md.Sequence.Stream != 5 {
		t.Fatalf("after the nak got %+v, %v; want stream sequence 5 delivered twice", md, err)
	}

	pullConsumer(t, ctx, js, "ORDERS", jetstream.ConsumerConfig{Durable: "fresh", AckPolicy: jetstream.AckExplicitPolicy})
	until := time.Now().Add(time.Hour)
	pullConsumer(t, ctx, js, "ORDERS", jetstream.ConsumerConfig{Durable: "paused", AckPolicy: jetstream.AckExplicitPolicy, PauseUntil: &until})
	// Nobody subscribes to the deliver subject, so nothing is pushed.
	if _, err := js.CreateOrUpdatePushConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "pushed", DeliverSubject: "deliver.pushed", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("create push consumer: %v", err)
	}

	// OTHER's consumer is caught up and has one pull request waiting.
	waiter := pullConsumer(t, ctx, js, "OTHER", jetstream.ConsumerConfig{Durable: "waiter", AckPolicy: jetstream.AckExplicitPolicy})
	fetchAck(t, ctx, waiter, 2)
	inbox := conn.NATS().NewRespInbox()
	sub, err := conn.NATS().SubscribeSync(inbox)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Unsubscribe()
	pull := []byte(`{"batch":1,"expires":60000000000}`)
	if err := conn.NATS().PublishRequest("$JS.API.CONSUMER.MSG.NEXT.OTHER.waiter", inbox, pull); err != nil {
		t.Fatalf("pull request: %v", err)
	}

	base := lag.Row{Broker: lag.BrokerNATS, Kind: lag.KindConsumer, Partition: lag.Unknown, State: "pull"}
	row := func(stream, consumer string, set func(*lag.Row)) lag.Row {
		r := base
		r.Stream, r.Consumer = stream, consumer
		set(&r)
		return r
	}
	all := []lag.Row{
		row("ORDERS", "acked", func(r *lag.Row) { r.Lag, r.Committed, r.End = 6, 4, 10 }),
		row("ORDERS", "fresh", func(r *lag.Row) { r.Lag, r.Committed, r.End = 10, 0, 10 }),
		row("ORDERS", "paused", func(r *lag.Row) { r.Lag, r.Committed, r.End, r.State = 10, 0, 10, "pull,paused" }),
		row("ORDERS", "pushed", func(r *lag.Row) { r.Lag, r.Committed, r.End, r.State = 10, 0, 10, "push" }),
		// num_pending counts what was never delivered: 3, not the 6
		// that are unacknowledged.
		row("ORDERS", "worker", func(r *lag.Row) { r.Lag, r.Committed, r.End, r.AckPending, r.Redelivered = 3, 4, 10, 3, 1 }),
		row("OTHER", "waiter", func(r *lag.Row) { r.Lag, r.Committed, r.End, r.Waiting = 0, 2, 2, 1 }),
	}
	active := map[string]bool{"ORDERS/acked": true, "ORDERS/worker": true, "OTHER/waiter": true}

	tests := []struct {
		name  string
		match func(string) bool
		want  []lag.Row
	}{
		{"all streams; one without consumers has no rows", nil, all},
		{"match one stream", func(s string) bool { return s == "OTHER" }, all[5:]},
		{"match a stream without consumers", func(s string) bool { return s == "EMPTY" }, nil},
		{"match nothing", func(string) bool { return false }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The waiting pull request reaches the consumer asynchronously.
			var got []lag.Row
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				got, err = conn.Lag(ctx, broker.LagQuery{Match: tt.match})
				if err != nil {
					t.Fatalf("Lag: %v", err)
				}
				i := slices.IndexFunc(got, func(r lag.Row) bool { return rowID(r) == "OTHER/waiter" })
				if i < 0 || got[i].Waiting > 0 || time.Now().After(deadline) {
					break
				}
			}
			if got == nil {
				t.Fatal("Lag returned nil rows, want an empty list")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Lag returned %d rows, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, g := range got {
				switch {
				case !active[rowID(g)] && !g.LastActive.IsZero():
					t.Errorf("%s: LastActive %v, want zero: it never delivered", rowID(g), g.LastActive)
				case active[rowID(g)] && (g.LastActive.Before(start) || g.LastActive.After(time.Now())):
					t.Errorf("%s: LastActive %v, want between %v and now", rowID(g), g.LastActive, start)
				}
				g.LastActive = time.Time{}
				if g != tt.want[i] {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, g, tt.want[i])
				}
			}
		})
	}
}

// TestLagTimeLag publishes messages in three groups separated by gap: the
// message whose age the estimate must give is alone in the middle group,
// so an estimate taken from an older or a newer message falls outside the
// bounds measured around its publish and around the Lag call.
func TestLagTimeLag(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	js := conn.JetStream()
	const gap = 300 * time.Millisecond

	tests := []struct {
		name     string
		maxMsgs  int64
		consumer jetstream.ConsumerConfig
		before   []string // published first, then gap
		want     string   // the oldest waiting message; "" when none waits
		after    []string // published gap after want
		ack      int      // messages fetched and acked before Lag
		hold     int      // messages fetched after those, never acked
	}{
		{name: "first message after the ack floor",
			before: []string{"a"}, want: "a", after: []string{"a"}, ack: 1},
		{name: "delivered but unacknowledged is still waiting",
			before: []string{"a"}, want: "a", after: []string{"a"}, ack: 1, hold: 1},
		{name: "nothing acknowledged",
			want: "a", after: []string{"a", "a"}},
		{name: "first message removed by limits", maxMsgs: 2,
			before: []string{"a"}, want: "a", after: []string{"a"}},
		{name: "filter subject skips other subjects",
			consumer: jetstream.ConsumerConfig{FilterSubject: "b"},
			before:   []string{"a", "a"}, want: "b", after: []string{"b"}},
		{name: "filter subjects: the oldest of them",
			consumer: jetstream.ConsumerConfig{FilterSubjects: []string{"b", "c"}},
			before:   []string{"a"}, want: "c", after: []string{"b", "c"}},
		{name: "caught up: no estimate",
			before: []string{"a", "a"}, ack: 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream := fmt.Sprintf("TL%d", i)
			subject := func(s string) string { return fmt.Sprintf("tl%d.%s", i, s) }
			createStream(t, ctx, js, jetstream.StreamConfig{Name: stream, Subjects: []string{subject(">")}, MaxMsgs: tt.maxMsgs})
			cfg := tt.consumer
			cfg.Durable, cfg.AckPolicy = "c", jetstream.AckExplicitPolicy
			if cfg.FilterSubject != "" {
				cfg.FilterSubject = subject(cfg.FilterSubject)
			}
			cfg.FilterSubjects = nil
			for _, s := range tt.consumer.FilterSubjects {
				cfg.FilterSubjects = append(cfg.FilterSubjects, subject(s))
			}
			c := pullConsumer(t, ctx, js, stream, cfg)

			for _, s := range tt.before {
				publishN(t, ctx, js, subject(s), 1)
			}
			var pub0, pub1 time.Time
			if tt.want != "" {
				time.Sleep(gap)
				pub0 = time.Now()
				publishN(t, ctx, js, subject(tt.want), 1)
				pub1 = time.Now()
				time.Sleep(gap)
			}
			for _, s := range tt.after {
				publishN(t, ctx, js, subject(s), 1)
			}
			if tt.ack > 0 {
				fetchAck(t, ctx, c, tt.ack)
			}
			if tt.hold > 0 {
				fetch(t, c, tt.hold)
			}

			match := func(s string) bool { return s == stream }
			rows, err := conn.Lag(ctx, broker.LagQuery{Match: match})
			if err != nil || len(rows) != 1 || rows[0].TimeLag != 0 {
				t.Fatalf("Lag without TimeLag = %+v, %v; want one row without an estimate", rows, err)
			}
			call0 := time.Now()
			rows, err = conn.Lag(ctx, broker.LagQuery{Match: match, TimeLag: true})
			call1 := time.Now()
			if err != nil || len(rows) != 1 {
				t.Fatalf("Lag = %+v, %v; want one row", rows, err)
			}
			got := rows[0]
			if tt.want == "" {
				if got.Lag != 0 || got.TimeLag != 0 {
					t.Errorf("caught up consumer: lag %d, time lag %v; want 0 and 0", got.Lag, got.TimeLag)
				}
				return
			}
			lo, hi := call0.Sub(pub1), call1.Sub(pub0)
			if got.Lag == 0 || got.TimeLag < lo || got.TimeLag > hi {
				t.Errorf("lag %d, time lag %v; want lag > 0 and time lag within [%v, %v]", got.Lag, got.TimeLag, lo, hi)
			}
		})
	}
}

func TestLagWithoutJetStream(t *testing.T) {
	withoutJetStream(t, func(t *testing.T, conn *Conn, ctx context.Context) {
		got, err := conn.Lag(ctx, broker.LagQuery{TimeLag: true})
		if err != nil {
			t.Fatalf("Lag: %v", err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("Lag = %#v, want an empty, non-nil list", got)
		}
	})
}

func TestLagErrors(t *testing.T) {
	const secret = "s3cret-pass"
	allow := func(subjects ...string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: subjects},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}
	}
	srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: secret},
			{Username: "streams-only", Password: secret, Permissions: allow("$JS.API.STREAM.>")},
			{Username: "no-get", Password: secret, Permissions: allow("$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.LIST.>")},
		}
	}})
	admin, ctx := natsConn(t, srv, broker.Target{Username: "admin", Password: secret})
	js := admin.JetStream()
	createStream(t, ctx, js, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	publishN(t, ctx, js, "orders.new", 3)
	// One acked: the oldest waiting message is not the stream's first,
	// whose time the listing holds, so a time lag needs a lookup.
	fetchAck(t, ctx, pullConsumer(t, ctx, js, "ORDERS", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy}), 1)

	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name    string
		user    string
		ctx     context.Context
		timeLag bool
		kind    mqerr.Kind
		text    string // "" for no error
	}{
		{"deadline passed", "admin", expired, false, mqerr.Unreachable, "no response from JetStream at 127.0.0.1:"},
		{"cancelled", "admin", cancelled, false, mqerr.Interrupted, "context canceled"},
		{"consumer listing denied", "streams-only", nil, false, mqerr.Auth, `denied this user the JetStream API while listing the consumers of stream "ORDERS"`},
		{"message lookup denied", "no-get", nil, true, mqerr.Auth, `denied this user the JetStream API while reading the oldest waiting message of consumer "worker" on stream "ORDERS"`},
		{"no message lookup without TimeLag", "no-get", nil, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := natsConn(t, srv, broker.Target{Username: tt.user, Password: secret})
			qctx := tt.ctx
			if qctx == nil {
				// A denied request gets no reply: it fails at the deadline.
				var cancel context.CancelFunc
				qctx, cancel = context.WithTimeout(ctx, time.Second)
				defer cancel()
			}
			rows, err := conn.Lag(qctx, broker.LagQuery{TimeLag: tt.timeLag})
			if tt.text == "" {
				if err != nil || len(rows) != 1 || rows[0].Lag != 2 {
					t.Fatalf("Lag = %+v, %v; want the worker's row with lag 2", rows, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Lag = %+v, want an error", rows)
			}
			if mqerr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tt.kind, tt.text)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q: must be one line without the password", err)
			}
			if tt.kind == mqerr.Interrupted && !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
}

// TestLagTimeLagRequests counts the JetStream API requests of one Lag
// with time lags, by verb, at 5 and 10 streams of 2 lagging consumers:
// the stream listing already holds what a stream info would tell, so
// there is none; an unfiltered consumer that acked nothing waits for the
// stream's first message, whose time the listing holds (no lookup); past
// that, consumers at the same position share one lookup. Run with -v for
// the counts.
func TestLagTimeLagRequests(t *testing.T) {
	for _, acked := range []int{0, 1} {
		for _, streams := range []int{5, 10} {
			srv := testenv.NATS(t, sandbox.NATSOptions{})
			conn, ctx := natsConn(t, srv, broker.Target{})
			js := conn.JetStream()
			for i := range streams {
				name := fmt.Sprintf("S%02d", i)
				createStream(t, ctx, js, jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}})
				publishN(t, ctx, js, strings.ToLower(name)+".x", 3)
				for j := range 2 {
					c := pullConsumer(t, ctx, js, name, jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", j), AckPolicy: jetstream.AckExplicitPolicy})
					if acked > 0 {
						fetchAck(t, ctx, c, acked)
					}
				}
			}
			n := countAPI(t, conn, func() {
				rows, err := conn.Lag(ctx, broker.LagQuery{TimeLag: true})
				if err != nil || len(rows) != 2*streams {
					t.Fatalf("Lag = %d rows, %v; want %d", len(rows), err, 2*streams)
				}
				for _, r := range rows {
					if r.Lag != int64(3-acked) || r.TimeLag <= 0 || r.TimeLagOf != lag.TimeLagOldestUnacked {
						t.Errorf("%s: lag %d, time lag %v; want %d and known", rowID(r), r.Lag, r.TimeLag, 3-acked)
					}
				}
			})
			total := 0
			for _, v := range n {
				total += v
			}
			t.Logf("%d streams × 2 consumers, %d acked each: %d $JS.API requests %v", streams, acked, total, n)
			lookups := 0
			if acked > 0 {
				lookups = streams
			}
			want := map[string]int{"STREAM.LIST": 1, "CONSUMER.LIST": streams, "STREAM.MSG": lookups}
			for k, v := range n {
				if v != want[k] {
					t.Errorf("%d streams, %d acked: %d %s requests, want %d: %v", streams, acked, v, k, want[k], n)
				}
			}
		}
	}
}

// countAPI counts the JetStream API requests f makes on conn's server, by
// verb ($JS.API.CONSUMER.LIST.S01 counts as CONSUMER.LIST). One
// subscription sees the requests and then a mark published after f, in
// order.
func countAPI(t *testing.T, conn *Conn, f func()) map[string]int {
	t.Helper()
	nc := conn.NATS()
	n := map[string]int{}
	marked := make(chan struct{}, 1)
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		switch {
		case m.Subject == "mqctl-test.mark":
			marked <- struct{}{}
		case strings.HasPrefix(m.Subject, "$JS.API."):
			p := strings.Split(strings.TrimPrefix(m.Subject, "$JS.API."), ".")
			n[strings.Join(p[:min(len(p), 2)], ".")]++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f()
	if err := nc.Publish("mqctl-test.mark", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-marked:
	case <-time.After(10 * time.Second):
		t.Fatal("the mark did not come back")
	}
	return n
}
