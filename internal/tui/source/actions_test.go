package source

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	_ "github.com/mqctl/mqctl/internal/broker/rabbitmq"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
	"github.com/mqctl/mqctl/internal/tui"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// topDriver runs `mqctl top`'s model on a real source as the program
// would, but in step: every command a message returns runs at once, and
// timers never fire (Tick is nil), so the dry run, the run and the
// refresh an action key starts are done when the key returns.
type topDriver struct {
	t     *testing.T
	m     *tui.Model
	audit string
}

func newTopDriver(t *testing.T, s *Brokers) *topDriver {
	t.Helper()
	d := &topDriver{t: t, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	d.m = tui.New(s, tui.Options{Interval: time.Hour, Audit: audit.Open(d.audit),
		Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	d.send(tea.WindowSizeMsg{Width: 200, Height: 50})
	d.send(d.m.Init()())
	d.keys("4") // the dead-letter view; each test's context has one DLQ
	return d
}

func (d *topDriver) send(msg tea.Msg) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg, queue = queue[0], queue[1:]
		_, cmd := d.m.Update(msg)
		queue = append(queue, runCmd(cmd)...)
	}
}

func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case nil, tea.QuitMsg:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, runCmd(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

func (d *topDriver) keys(keys ...string) {
	for _, k := range keys {
		switch k {
		case "enter":
			d.send(tea.KeyPressMsg{Code: tea.KeyEnter})
		case "esc":
			d.send(tea.KeyPressMsg{Code: tea.KeyEscape})
		default:
			for _, r := range k {
				d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
			}
		}
	}
}

func (d *topDriver) screen() string { return d.m.Content() }

// records are the audit log's lines for action ("replay", "purge").
func (d *topDriver) records(action string) []audit.Record {
	d.t.Helper()
	f, err := os.Open(d.audit)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			d.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// actionCase is one broker's dead-letter queue for checkActions.
type actionCase struct {
	target broker.Target
	dlq    string
	origin string // where its dead letters go back to
	n      int    // dead letters seed puts in
	// settle is part of Plan.Settle; marked is Plan.Marked.
	settle string
	marked bool
	seed   func(round int)
	// left is how many dead letters the DLQ holds that a replay would
	// still read; held how many it physically holds.
	left, held func() int
	// arrived checks that origin holds the n replayed messages, each as
	// it was first sent: key, value and user headers kept, death headers
	// gone, mq-replay-count 1.
	arrived func(t *testing.T)
	// reseed puts n dead letters back for the purge.
	reseed func()
}

// checkActions seeds c's DLQ, plans a replay (counts and target right,
// nothing moved), replays it through top's model with y (every message
// at its origin, the DLQ empty, the audit log with counts), then purges
// it by typing its name (empty, audit line).
func checkActions(t *testing.T, c actionCase) {
	ctx := context.Background()
	c.seed(0)
	s := &Brokers{Targets: []broker.Target{c.target}}
	defer s.Close()

	p, err := s.PlanReplay(ctx, 0, c.dlq)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	n := int64(c.n)
	if p.Read != n || p.Replay != n || p.Left != 0 || !maps.Equal(p.To, map[string]int64{c.origin: n}) ||
		!strings.Contains(p.Settle, c.settle) || p.Marked != c.marked {
		t.Fatalf("plan %+v: want read and replay %d to %s, settle %q, marked %v", p, n, c.origin, c.settle, c.marked)
	}
	if got := c.left(); got != c.n {
		t.Fatalf("after the dry run the DLQ has %d to replay, want all %d", got, c.n)
	}

	d := newTopDriver(t, s)
	d.keys("R")
	screen := d.screen()
	for _, want := range []string{fmt.Sprintf("Replay %d dead letters of %s", n, c.dlq), fmt.Sprintf("%d → %s", n, c.origin), "y replays"} {
		if !strings.Contains(screen, want) {
			t.Fatalf("the dialog lacks %q:\n%s", want, screen)
		}
	}
	if got := c.left(); got != c.n {
		t.Fatalf("before y the DLQ has %d to replay, want all %d", got, c.n)
	}
	d.keys("y")
	if screen := d.screen(); !strings.Contains(screen, fmt.Sprintf("replay %s: read %d, replayed %d", c.dlq, n, n)) {
		t.Fatalf("after y the screen does not say what was replayed:\n%s", screen)
	}
	if got := c.left(); got != 0 {
		t.Errorf("after the replay the DLQ has %d to replay, want 0", got)
	}
	c.arrived(t)
	rs := d.records("replay")
	if ev := events(rs); ev != "attempted confirmed finished" {
		t.Fatalf("replay audit events %q", ev)
	}
	if fin := rs[2]; fin.Result != "ok" || fin.Destination != c.dlq || fin.Context != c.target.Context ||
		fin.Counts["read"] != n || fin.Counts["replayed"] != n || fin.Counts["failed"] != 0 || fin.ID != rs[0].ID {
		t.Errorf("finished record %+v", fin)
	}
	if conf := rs[1]; conf.Counts["replay"] != n || conf.Counts["read"] != n {
		t.Errorf("confirmed record %+v", conf)
	}

	c.reseed()
	if got := c.held(); got != c.n {
		t.Fatalf("reseeded DLQ holds %d, want %d", got, c.n)
	}
	d.keys("r", "X", c.dlq)
	if got := c.held(); got != c.n {
		t.Fatalf("purged before Enter: %d left", got)
	}
	d.keys("enter")
	if screen := d.screen(); !strings.Contains(screen, fmt.Sprintf("purged %d dead letters from %s", n, c.dlq)) {
		t.Fatalf("after the purge the screen does not say what was purged:\n%s", screen)
	}
	if got := c.held(); got != 0 {
		t.Errorf("after the purge the DLQ holds %d, want 0", got)
	}
	rs = d.records("purge")
	if ev := events(rs); ev != "attempted confirmed finished" {
		t.Fatalf("purge audit events %q", ev)
	}
	if fin := rs[2]; fin.Result != "ok" || fin.Destination != c.dlq || fin.Counts["purged"] != n {
		t.Errorf("purge finished record %+v", fin)
	}
}

func events(rs []audit.Record) string {
	var es []string
	for _, r := range rs {
		es = append(es, r.Event)
	}
	return strings.Join(es, " ")
}

func headerString(hs []kgo.RecordHeader) string {
	var out []string
	for _, h := range hs {
		out = append(out, fmt.Sprintf("%s=%q", h.Key, h.Value))
	}
	return strings.Join(out, ",")
}

// Kafka (kfake): a Spring .DLT replayed to its topic, done by commits in
// mqctl-dlq; purge deletes the records.
func TestActionsKafka(t *testing.T) {
	ctx := context.Background()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	const n = 5
	seed := func(int) {
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: "orders.DLT", Key: []byte("k" + strconv.Itoa(i)), Value: []byte("order-" + strconv.Itoa(i)),
				Headers: []kgo.RecordHeader{
					{Key: "trace", Value: []byte("t-" + strconv.Itoa(i))},
					{Key: "kafka_dlt-original-topic", Value: []byte("orders")},
					{Key: "kafka_dlt-original-partition", Value: binary.BigEndian.AppendUint32(nil, 0)},
					{Key: "kafka_dlt-original-offset", Value: binary.BigEndian.AppendUint64(nil, uint64(10+i))},
					{Key: "kafka_dlt-exception-message", Value: []byte("price missing")},
				}})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offsets := func(list func(context.Context, ...string) (kadm.ListedOffsets, error)) int64 {
		l, err := list(ctx, "orders.DLT")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := l.Lookup("orders.DLT", 0)
		return o.Offset
	}
	checkActions(t, actionCase{
		target: broker.Target{Context: "kfake", URL: k.URL, Timeout: 10 * time.Second},
		dlq:    "orders.DLT", origin: "orders", n: n, settle: "committed in group mqctl-dlq",
		seed: seed,
		left: func() int {
			committed, err := adm.FetchOffsets(ctx, ReplayGroup)
			if errors.Is(err, kerr.GroupIDNotFound) {
				err = nil // no commits yet
			}
			if err != nil {
				t.Fatal(err)
			}
			from := offsets(adm.ListStartOffsets)
			if o, ok := committed.Lookup("orders.DLT", 0); ok {
				from = max(from, o.At)
			}
			return int(offsets(adm.ListEndOffsets) - from)
		},
		held: func() int { return int(offsets(adm.ListEndOffsets) - offsets(adm.ListStartOffsets)) },
		arrived: func(t *testing.T) {
			rc, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			var got []*kgo.Record
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for len(got) < n && pctx.Err() == nil {
				got = append(got, rc.PollFetches(pctx).Records()...)
			}
			if len(got) != n {
				t.Fatalf("orders holds %d records, want %d", len(got), n)
			}
			for i, r := range got {
				want := fmt.Sprintf(`trace="t-%d",mq-replay-count="1"`, i)
				if string(r.Key) != "k"+strconv.Itoa(i) || string(r.Value) != "order-"+strconv.Itoa(i) || headerString(r.Headers) != want {
					t.Errorf("replayed record %d: key %q value %q headers %s, want headers %s", i, r.Key, r.Value, headerString(r.Headers), want)
				}
			}
		},
		// The replayed records stay in the topic (committed, not
		// deleted): the purge deletes them.
		reseed: func() {},
	})
}

// RabbitMQ: a DLX queue replayed to the queue its messages died in,
// acked after each confirm; purge is queue.purge.
func TestActionsRabbitMQ(t *testing.T) {
	ctx := context.Background()
	env := testenv.RabbitMQ(t)
	v := newVHost(t, env)
	u, ch := v.url, v.ch
	if _, err := ch.QueueDeclare("orders", true, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	const n = 4
	depth := func(q string) int {
		qi, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return qi.Messages
	}
	// rejectAll dead-letters the n messages orders holds.
	rejectAll := func() {
		for range n {
			var d amqp.Delivery
			var ok bool
			var err error
			for deadline := time.Now().Add(5 * time.Second); !ok; {
				if d, ok, err = ch.Get("orders", false); err != nil {
					t.Fatal(err)
				}
				if !ok && time.Now().After(deadline) {
					t.Fatal("nothing to get from orders")
				}
			}
			if err := d.Reject(false); err != nil {
				t.Fatal(err)
			}
		}
		testenv.WaitQueue(t, ch, "orders.dlq", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
	}
	seed := func(int) {
		for i := range n {
			err := ch.PublishWithContext(ctx, "", "orders", false, false, amqp.Publishing{
				Body: []byte("order-" + strconv.Itoa(i)), MessageId: "m-" + strconv.Itoa(i), ContentType: "text/plain",
				Headers: amqp.Table{"tenant": "eu", "n": int32(i)}, DeliveryMode: amqp.Persistent})
			if err != nil {
				t.Fatal(err)
			}
		}
		rejectAll()
	}
	// A dead letter held by a consumer (a dry run's, until it closes) is
	// not ready: wait for the broker to count them back.
	settled := func() int {
		return testenv.WaitQueue(t, ch, "orders.dlq", 10*time.Second, func(q amqp.Queue) bool { return q.Consumers == 0 }).Messages
	}
	checkActions(t, actionCase{
		target: broker.Target{Context: "rabbit", URL: u, ManagementURL: env.APIURL, Timeout: 10 * time.Second},
		dlq:    "orders.dlq", origin: "orders", n: n, settle: "removed from orders.dlq", marked: true,
		seed: seed, left: settled, held: settled,
		arrived: func(t *testing.T) {
			if got := depth("orders"); got != n {
				t.Fatalf("orders holds %d, want %d", got, n)
			}
			// Held unacked until all are read, then put back for the
			// purge's reseed.
			var last amqp.Delivery
			for i := range n {
				d, ok, err := ch.Get("orders", false)
				if err != nil || !ok {
					t.Fatalf("get %d: %v %v", i, ok, err)
				}
				_, death := d.Headers["x-death"]
				if string(d.Body) != "order-"+strconv.Itoa(i) || d.MessageId != "m-"+strconv.Itoa(i) || d.ContentType != "text/plain" ||
					d.Headers["tenant"] != "eu" || headerText(d.Headers["n"]) != strconv.Itoa(i) || headerText(d.Headers["mq-replay-count"]) != "1" || death ||
					d.DeliveryMode != amqp.Persistent {
					t.Errorf("replayed %d: body %q id %q type %q mode %d headers %#v", i, d.Body, d.MessageId, d.ContentType, d.DeliveryMode, d.Headers)
				}
				last = d
			}
			if err := last.Nack(true, true); err != nil {
				t.Fatal(err)
			}
			testenv.WaitQueue(t, ch, "orders", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
		},
		reseed: rejectAll,
	})
}

// headerText is an AMQP header value as text, whichever type it came in
// (replay sends header values as text for now: the int32 "n" comes back
// as "0", as it does from `mqctl dlq replay`).
func headerText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// NATS JetStream: a DLQ stream of copies that name their subject
// (mq-original-*), replayed to it, each copy deleted after its PubAck;
// purge is a stream purge.
func TestActionsJetStream(t *testing.T) {
	ctx := context.Background()
	srv, js := natsJetStream(t)
	for _, cfg := range []jetstream.StreamConfig{{Name: "ORDERS", Subjects: []string{"orders.>"}}, {Name: "ORDERS_DLQ", Subjects: []string{"dlq.orders"}}} {
		cfg.Storage = jetstream.FileStorage
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3
	seed := func(round int) {
		for i := range n {
			m := nats.NewMsg("dlq.orders")
			m.Data = []byte("order-" + strconv.Itoa(i))
			m.Header.Set("tenant", "eu")
			m.Header.Set("Nats-Msg-Id", fmt.Sprintf("order-%d-%d", round, i))
			m.Header.Set("mq-original-broker", "nats")
			m.Header.Set("mq-original-destination", "orders.eu")
			m.Header.Set("mq-original-subject", "orders.eu")
			m.Header.Set("mq-death-reason", "price missing")
			if _, err := js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs := func(stream string) int {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(info.State.Msgs)
	}
	dlqMsgs := func() int { return msgs("ORDERS_DLQ") }
	checkActions(t, actionCase{
		target: broker.Target{Context: "js", URL: srv.URL, Timeout: 10 * time.Second},
		dlq:    "ORDERS_DLQ", origin: "orders.eu", n: n, settle: "removed from ORDERS_DLQ",
		seed: seed, left: dlqMsgs, held: dlqMsgs,
		arrived: func(t *testing.T) {
			if got := msgs("ORDERS"); got != n {
				t.Fatalf("ORDERS holds %d, want %d", got, n)
			}
			s, _ := js.Stream(ctx, "ORDERS")
			for i := range n {
				m, err := s.GetMsg(ctx, uint64(i+1))
				if err != nil {
					t.Fatal(err)
				}
				id := fmt.Sprintf("order-0-%d", i)
				if m.Subject != "orders.eu" || string(m.Data) != "order-"+strconv.Itoa(i) || m.Header.Get("tenant") != "eu" ||
					m.Header.Get("mq-replay-count") != "1" || m.Header.Get("mq-msg-id") != id ||
					!strings.HasPrefix(m.Header.Get("Nats-Msg-Id"), id+":replay:1:") || m.Header.Get("mq-death-reason") != "" ||
					m.Header.Get("mq-original-subject") != "" {
					t.Errorf("replayed seq %d: subject %s data %q headers %v", i+1, m.Subject, m.Data, m.Header)
				}
			}
		},
		reseed: func() { seed(1) },
	})
}

// A read-only context refuses every action below the UI, before it
// connects: nothing is read, committed or deleted.
func TestActionsRefuseReadOnlyContext(t *testing.T) {
	ctx := context.Background()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "orders.DLT", Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "mq-original-destination", Value: []byte("orders")}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s := &Brokers{Targets: []broker.Target{{Context: "prod", URL: k.URL, ReadOnly: true, Timeout: 5 * time.Second}}}
	defer s.Close()
	if !s.ReadOnly(0) {
		t.Fatal("ReadOnly(0) = false")
	}
	_, planErr := s.PlanReplay(ctx, 0, "orders.DLT")
	replayErr := s.Replay(ctx, 0, "orders.DLT", 0, &dlq.MoveStats{})
	n, purgeErr := s.Purge(ctx, 0, "orders.DLT")
	for what, err := range map[string]error{"plan": planErr, "replay": replayErr, "purge": purgeErr} {
		if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), `context "prod" is read-only`) {
			t.Errorf("%s on a read-only context: %v", what, err)
		}
	}
	if n != 0 {
		t.Errorf("purge on a read-only context says %d purged", n)
	}
	start, err := adm.ListStartOffsets(ctx, "orders.DLT")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("orders.DLT", 0); o.Offset != 0 {
		t.Errorf("orders.DLT starts at %d: records were deleted", o.Offset)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs := groups.Groups(); len(gs) != 0 {
		t.Errorf("groups %v after refused actions", gs)
	}
}
