package nats

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/broker/inflight"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// outcomes records the done calls of n messages, and how many each got.
type outcomes struct {
	mu       sync.Mutex
	receipts []broker.Receipt
	errs     []error
	calls    []int
}

func newOutcomes(n int) *outcomes {
	return &outcomes{receipts: make([]broker.Receipt, n), errs: make([]error, n), calls: make([]int, n)}
}

func (o *outcomes) done(i int) func(broker.Receipt, error) {
	return func(r broker.Receipt, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.receipts[i], o.errs[i] = r, err
		o.calls[i]++
	}
}

// exactlyOnce fails t unless every message got one done call.
func (o *outcomes) exactlyOnce(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range o.calls {
		if c != 1 {
			t.Errorf("message %d got %d done calls, want 1", i, c)
		}
	}
}

// natsConn opens a connection to srv and a context bounded for the test.
func natsConn(t *testing.T, srv *sandbox.NATS, tg broker.Target) (*Conn, context.Context) {
	t.Helper()
	tg.URL = srv.URL
	conn, err := openDirect(t, tg, 5*time.Second)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return conn, ctx
}

func createStream(t *testing.T, ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	s, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatalf("create stream %s: %v", cfg.Name, err)
	}
	return s
}

func newProducer(t *testing.T, ctx context.Context, conn *Conn, o broker.ProducerOptions) broker.Producer {
	t.Helper()
	p, err := conn.NewProducer(ctx, o)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// storedMsgs reads every message of a stream, in order, with an ordered
// consumer (one request per message would be slow).
func storedMsgs(t *testing.T, ctx context.Context, s jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for uint64(len(out)) < info.State.Msgs {
		batch, err := cons.Fetch(int(min(1000, info.State.Msgs-uint64(len(out)))), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			out = append(out, &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream, Header: m.Headers(), Data: m.Data()})
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
	}
	return out
}

func TestProduceJetStream(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	stream := createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "orders.eu.new", InFlight: 8})

	const n = 50 // several times the window
	out := newOutcomes(n)
	msgs := make([]*broker.Message, n)
	for i := range msgs {
		msgs[i] = &broker.Message{
			Key:   []byte("customer-7"),
			Value: fmt.Appendf(nil, "value-%d", i),
			Headers: []broker.Header{
				{Key: "trace", Value: []byte("first")},
				{Key: "Content-Type", Value: []byte("text/plain; charset=utf-8")},
				{Key: "trace", Value: []byte(fmt.Sprintf("second-%d", i))},
				{Key: "Trace", Value: []byte("other case")},
			},
			NATS: broker.NATSMeta{MsgID: fmt.Sprintf("id-%d", i)},
		}
		p.Publish(ctx, msgs[i], out.done(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	for i := range n {
		if out.errs[i] != nil {
			t.Fatalf("message %d failed: %v", i, out.errs[i])
		}
		want := broker.Receipt{Stream: "ORDERS", Seq: uint64(i + 1)}
		if out.receipts[i] != want {
			t.Errorf("receipt %d = %+v, want %+v", i, out.receipts[i], want)
		}
	}

	stored := storedMsgs(t, ctx, stream)
	if len(stored) != n {
		t.Fatalf("stream holds %d messages, want %d", len(stored), n)
	}
	for i, m := range stored {
		if m.Subject != "orders.eu.new" || string(m.Data) != fmt.Sprintf("value-%d", i) {
			t.Errorf("message %d = %s %q", i, m.Subject, m.Data)
		}
		wantHeaders := nats.Header{
			"trace":        {"first", fmt.Sprintf("second-%d", i)},
			"Trace":        {"other case"},
			"Content-Type": {"text/plain; charset=utf-8"},
			"Nats-Msg-Id":  {fmt.Sprintf("id-%d", i)},
			"mq-kafka-key": {"customer-7"}, // NATS has no key: it goes in a header
		}
		if !maps.EqualFunc(m.Header, wantHeaders, slices.Equal[[]string]) {
			t.Errorf("message %d headers = %v, want %v", i, m.Header, wantHeaders)
		}
	}

	// A repeated message id inside the duplicate window is acknowledged
	// as a duplicate of the stored message and not stored again.
	dup := newOutcomes(1)
	p.Publish(ctx, &broker.Message{Value: []byte("again"), NATS: broker.NATSMeta{MsgID: "id-7"}}, dup.done(0))
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	dup.exactlyOnce(t)
	if dup.errs[0] != nil || !dup.receipts[0].Duplicate || dup.receipts[0].Seq != 8 {
		t.Errorf("duplicate: receipt %+v, err %v; want Duplicate with seq 8", dup.receipts[0], dup.errs[0])
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Errorf("stream holds %d messages after the duplicate, want %d", info.State.Msgs, n)
	}
}

func TestNewProducerErrors(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*server.Options)
		opts      broker.ProducerOptions
		wantKind  mqerr.Kind
		wantText  string
	}{
		{
			name:     "no stream captures the subject",
			opts:     broker.ProducerOptions{Destination: "nowhere.new"},
			wantKind: mqerr.NotFound,
			wantText: `no JetStream stream captures subject "nowhere.new" (use --core to publish without confirm)`,
		},
		{
			name:      "server without JetStream",
			configure: func(o *server.Options) { o.JetStream = false },
			opts:      broker.ProducerOptions{Destination: "orders.new"},
			wantKind:  mqerr.NotFound,
			wantText:  "JetStream is not enabled on nats at 127.0.0.1:",
		},
		{"no subject", nil, broker.ProducerOptions{}, mqerr.Usage, "subject to publish to is required"},
		{"space in subject", nil, broker.ProducerOptions{Destination: "orders new"}, mqerr.Usage, "whitespace"},
		{"tab in core subject", nil, broker.ProducerOptions{Destination: "orders\tnew", Core: true}, mqerr.Usage, "whitespace"},
		{"star wildcard", nil, broker.ProducerOptions{Destination: "orders.*"}, mqerr.Usage, "wildcard"},
		{"tail wildcard in core", nil, broker.ProducerOptions{Destination: "orders.>", Core: true}, mqerr.Usage, "wildcard"},
		{"empty token", nil, broker.ProducerOptions{Destination: "orders..new"}, mqerr.Usage, "empty token"},
		{"negative window", nil, broker.ProducerOptions{Destination: "orders.new", InFlight: -1}, mqerr.Usage, "in-flight"},
		{"negative timeout", nil, broker.ProducerOptions{Destination: "orders.new", ConfirmTimeout: -time.Second}, mqerr.Usage, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{Configure: tt.configure})
			conn, ctx := natsConn(t, srv, broker.Target{})
			if tt.configure == nil {
				createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
			}
			p, err := conn.NewProducer(ctx, tt.opts)
			if err == nil {
				p.Close()
				t.Fatal("NewProducer succeeded, want an error")
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
		})
	}
}

func TestProduceCore(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	sub, err := conn.NATS().SubscribeSync("events.login")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NATS().Flush(); err != nil {
		t.Fatal(err)
	}
	// No stream captures the subject: core mode does not need one.
	p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "events.login", Core: true, InFlight: 16})

	const n = 100
	out := newOutcomes(n)
	for i := range n {
		p.Publish(ctx, &broker.Message{
			Value:   fmt.Appendf(nil, "login-%d", i),
			Headers: []broker.Header{{Key: "user", Value: []byte("u1")}, {Key: "user", Value: []byte("u2")}},
		}, out.done(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	for i := range n {
		if r := out.receipts[i]; out.errs[i] != nil || r.At.IsZero() || r != (broker.Receipt{Unconfirmed: true, At: r.At}) {
			t.Errorf("message %d: receipt %+v, err %v; want an unconfirmed receipt with the flush's time", i, out.receipts[i], out.errs[i])
		}
	}
	for i := range n {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("receive message %d: %v", i, err)
		}
		if string(m.Data) != fmt.Sprintf("login-%d", i) || !slices.Equal(m.Header.Values("user"), []string{"u1", "u2"}) {
			t.Errorf("received %q with headers %v", m.Data, m.Header)
		}
	}
}

// TestCoreKicksOncePerBatch: a core producer kicks its flusher once per
// full batch. Messages sent after the flusher took the kick, before it
// took the batch, must not leave another kick behind: that flushed them
// again at once, a PING round trip for a handful of messages.
func TestCoreKicksOncePerBatch(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	// Built as NewProducer builds it, with the flusher started by hand.
	cp := newCoreProducer(&producer{nc: conn.nc, subject: "events.kick", timeout: time.Minute,
		win: inflight.New(8), closing: make(chan struct{}), stopped: make(chan struct{})}, 8)
	if cp.flushAt != 4 {
		t.Fatalf("flushAt %d, want half the window of 8", cp.flushAt)
	}
	const n = 7
	out := newOutcomes(n)
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			cp.Publish(ctx, &broker.Message{Value: fmt.Appendf(nil, "m-%d", i)}, out.done(i))
		}
	}
	publish(0, 3)
	if len(cp.kick) != 0 {
		t.Fatal("kicked before the batch was full")
	}
	publish(3, 4)
	if len(cp.kick) != 1 {
		t.Fatal("no kick when the batch became full")
	}
	<-cp.kick // the flusher wakes; it has not taken the batch yet
	publish(4, n)
	if len(cp.kick) != 0 {
		t.Fatal("messages past the full batch kicked the flusher again")
	}
	go cp.flusher()
	if err := cp.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	for i := range n {
		if r := out.receipts[i]; out.errs[i] != nil || r.At.IsZero() || r != (broker.Receipt{Unconfirmed: true, At: r.At}) {
			t.Errorf("message %d: receipt %+v, err %v; want an unconfirmed receipt with the flush's time", i, out.receipts[i], out.errs[i])
		}
	}
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCoreReleasesTheWindowInChunks: a flush settles its batch a chunk
// at a time, giving each chunk's window slots back before the next
// chunk's done calls: a publisher held by a full window resumes after the
// first chunk, not after the whole batch.
func TestCoreReleasesTheWindowInChunks(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	const n = 3 * settleChunk
	cp := newCoreProducer(&producer{nc: conn.nc, subject: "events.chunks", timeout: time.Minute,
		win: inflight.New(n), closing: make(chan struct{}), stopped: make(chan struct{})}, 2*n)
	// The done call of the first message of the third chunk waits until
	// the test has looked at the window.
	held, resume := make(chan struct{}), make(chan struct{})
	var settled atomic.Int64
	for i := range n {
		done := func(_ broker.Receipt, err error) {
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			if i == 2*settleChunk {
				close(held)
				<-resume
			}
			settled.Add(1)
		}
		cp.Publish(ctx, &broker.Message{Value: []byte("m")}, done)
	}
	if got := cp.win.InUse(); got != n {
		t.Fatalf("%d slots in use after %d publishes", got, n)
	}
	go cp.flusher()
	cp.nudge()
	<-held
	if got := cp.win.InUse(); got != n-2*settleChunk {
		t.Errorf("%d slots in use while the third chunk settles, want %d: the first two chunks' slots back", got, n-2*settleChunk)
	}
	close(resume)
	if err := cp.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := settled.Load(); got != n {
		t.Errorf("%d settled, want %d", got, n)
	}
	if err := cp.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCorePublishAllocs: a core publish allocates nothing of its own (the
// flusher's PING round trips, every half window, allocate a little), so
// a load test's measuring does not feed the garbage collector.
func TestCorePublishAllocs(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "events.allocs", Core: true, InFlight: 4096})
	m := &broker.Message{Value: []byte("payload")}
	var settled atomic.Int64
	done := func(_ broker.Receipt, err error) {
		if err != nil {
			t.Error(err)
		}
		settled.Add(1)
	}
	allocs := testing.AllocsPerRun(2000, func() { p.Publish(ctx, m, done) })
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if settled.Load() != 2001 {
		t.Errorf("%d messages settled, want 2001", settled.Load())
	}
	if allocs >= 1 {
		t.Errorf("%.0f allocations per core publish, want none", allocs)
	}
}

// TestCoreCopiesOnPublish: a core producer is a broker.Copier, so one
// message may be rewritten after every Publish (the load test stamps one
// hot message). What arrives is what each Publish was given, through
// several flushes; a JetStream producer keeps its messages until their
// PubAck and must not say it copies.
func TestCoreCopiesOnPublish(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	sub, err := conn.NATS().SubscribeSync("events.reused")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NATS().Flush(); err != nil {
		t.Fatal(err)
	}
	p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "events.reused", Core: true, InFlight: 64})
	if !broker.CopiesOnPublish(p) {
		t.Fatal("the core producer does not say it copies on publish")
	}
	const n = 1000
	out := newOutcomes(n)
	m := &broker.Message{Value: make([]byte, 8), Headers: []broker.Header{{Key: "n", Value: make([]byte, 8)}}}
	for i := range n {
		copy(m.Value, fmt.Sprintf("v%07d", i))
		copy(m.Headers[0].Value, fmt.Sprintf("h%07d", i))
		m.NATS.MsgID = fmt.Sprintf("id-%d", i)
		p.Publish(ctx, m, out.done(i))
		// Scribbled on at once: a driver still holding m would send this.
		copy(m.Value, "XXXXXXXX")
		copy(m.Headers[0].Value, "XXXXXXXX")
		m.NATS.MsgID = "XX"
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	for i := range n {
		got, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("receive message %d: %v", i, err)
		}
		if want := fmt.Sprintf("v%07d", i); string(got.Data) != want || got.Header.Get("n") != fmt.Sprintf("h%07d", i) || got.Header.Get("Nats-Msg-Id") != fmt.Sprintf("id-%d", i) {
			t.Fatalf("message %d arrived as %q with headers %v, want %q as published", i, got.Data, got.Header, want)
		}
	}

	createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "REUSED", Subjects: []string{"js.reused"}})
	if js := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "js.reused", InFlight: 64}); broker.CopiesOnPublish(js) {
		t.Error("the JetStream producer says it copies on publish; it keeps each message until its PubAck")
	}
}

func TestProduceMaxPayload(t *testing.T) {
	for _, core := range []bool{false, true} {
		t.Run(fmt.Sprintf("core=%v", core), func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) { o.MaxPayload = 1024 }})
			conn, ctx := natsConn(t, srv, broker.Target{})
			createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "BLOBS", Subjects: []string{"blobs"}})
			p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "blobs", Core: core})

			sizes := []int{10, 2000, 20, 1025, 30}
			out := newOutcomes(len(sizes))
			for i, size := range sizes {
				p.Publish(ctx, &broker.Message{Value: make([]byte, size)}, out.done(i))
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			out.exactlyOnce(t)
			for i, size := range sizes {
				err := out.errs[i]
				if size <= 1024 {
					if err != nil {
						t.Errorf("message of %d bytes failed: %v", size, err)
					}
					continue
				}
				if !errors.Is(err, nats.ErrMaxPayload) {
					t.Errorf("message of %d bytes: err = %v, want ErrMaxPayload", size, err)
				} else if !strings.Contains(err.Error(), "max_payload of 1024 bytes") {
					t.Errorf("error %q does not name the limit", err)
				}
			}
		})
	}
}

func TestProduceRejected(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	stream := createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{
		Name: "LIMITED", Subjects: []string{"limited"}, MaxMsgs: 3, Discard: jetstream.DiscardNew,
	})
	p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "limited"})

	out := newOutcomes(6)
	// The server checks an expected last sequence before the limits.
	p.Publish(ctx, &broker.Message{Value: []byte("stale"), Headers: []broker.Header{{Key: "Nats-Expected-Last-Sequence", Value: []byte("9")}}}, out.done(0))
	for i := 1; i < 6; i++ {
		p.Publish(ctx, &broker.Message{Value: fmt.Appendf(nil, "m%d", i)}, out.done(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	wantErr := []string{"wrong last sequence", "", "", "", "maximum messages exceeded", "maximum messages exceeded"}
	for i, want := range wantErr {
		err := out.errs[i]
		switch {
		case want == "" && err != nil:
			t.Errorf("message %d failed: %v", i, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("message %d: err = %v, want one containing %q", i, err, want)
		case want != "" && !strings.HasPrefix(err.Error(), "JetStream rejected the message: "):
			t.Errorf("message %d: error %q does not say JetStream rejected it", i, err)
		}
	}
	if got := len(storedMsgs(t, ctx, stream)); got != 3 {
		t.Errorf("stream holds %d messages, want 3", got)
	}
}

func TestProduceBadHeaders(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})
	stream := createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "H", Subjects: []string{"h"}})
	tests := []struct {
		name     string
		msg      broker.Message
		wantText string
	}{
		{"CR LF in value", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte("a\r\nInjected: yes")}}}, "cannot contain CR or LF"},
		{"LF in value", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte("a\nb")}}}, "cannot contain CR or LF"},
		{"NUL in value", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte("a\x00b")}}}, "control characters"},
		{"not UTF-8", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte{0xff, 0xfe}}}}, "UTF-8"},
		{"trailing space", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte("a ")}}}, "whitespace"},
		{"leading tab", broker.Message{Headers: []broker.Header{{Key: "x", Value: []byte("\ta")}}}, "whitespace"},
		{"colon in name", broker.Message{Headers: []broker.Header{{Key: "a:b", Value: []byte("v")}}}, `header name "a:b"`},
		{"space in name", broker.Message{Headers: []broker.Header{{Key: "a b", Value: []byte("v")}}}, `header name "a b"`},
		{"empty name", broker.Message{Headers: []broker.Header{{Key: "", Value: []byte("v")}}}, "empty name"},
		{"id conflicts with header", broker.Message{Headers: []broker.Header{{Key: "Nats-Msg-Id", Value: []byte("a")}}, NATS: broker.NATSMeta{MsgID: "b"}}, "conflicts"},
		{"CR in message id", broker.Message{NATS: broker.NATSMeta{MsgID: "a\rb"}}, "cannot contain CR or LF"},
	}
	for _, core := range []bool{false, true} {
		p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "h", Core: core})
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s core=%v", tt.name, core), func(t *testing.T) {
				out := newOutcomes(3)
				ok := broker.Message{Value: []byte("fine"), Headers: []broker.Header{{Key: "x", Value: []byte("inner space ok")}}}
				p.Publish(ctx, &ok, out.done(0))
				p.Publish(ctx, &tt.msg, out.done(1))
				p.Publish(ctx, &ok, out.done(2))
				if err := p.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				out.exactlyOnce(t)
				if out.errs[0] != nil || out.errs[2] != nil {
					t.Errorf("valid messages failed: %v, %v", out.errs[0], out.errs[2])
				}
				err := out.errs[1]
				if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("err = %v (kind %v), want a usage error containing %q", err, mqerr.KindOf(err), tt.wantText)
				}
			})
		}
	}
	// Only the valid messages reached the stream, unaltered.
	for _, m := range storedMsgs(t, ctx, stream) {
		if string(m.Data) != "fine" || m.Header.Get("x") != "inner space ok" || len(m.Header) != 1 {
			t.Errorf("stored %q with headers %v", m.Data, m.Header)
		}
	}
}

func TestProduceAcrossRestart(t *testing.T) {
	for _, core := range []bool{false, true} {
		t.Run(fmt.Sprintf("core=%v", core), func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{})
			conn, ctx := natsConn(t, srv, broker.Target{})
			stream := createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "DURABLE", Subjects: []string{"durable"}})
			p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "durable", InFlight: 256, ConfirmTimeout: 10 * time.Second, Core: core})

			const n = 20000
			out := newOutcomes(n)
			var sent atomic.Int64
			publishing := make(chan struct{})
			go func() {
				defer close(publishing)
				for i := range n {
					p.Publish(ctx, &broker.Message{Value: fmt.Appendf(nil, "v%d", i), NATS: broker.NATSMeta{MsgID: fmt.Sprintf("id-%d", i)}}, out.done(i))
					sent.Add(1)
					if i%100 == 0 {
						// Spread the messages over the restart.
						time.Sleep(time.Millisecond)
					}
				}
			}()
			for sent.Load() < n/4 {
				time.Sleep(time.Millisecond)
			}
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			afterRestart := int(sent.Load())
			if afterRestart == n {
				t.Fatal("every message was published before the restart finished")
			}
			<-publishing
			if err := p.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			out.exactlyOnce(t)
			if conn.NATS().Stats().Reconnects == 0 {
				t.Error("the connection never reconnected")
			}
			if !slices.ContainsFunc(out.errs[afterRestart:], func(err error) bool { return err == nil }) {
				t.Error("no message published after the restart was confirmed")
			}
			failed := map[string]int{}
			for _, err := range out.errs {
				if err != nil {
					failed[err.Error()]++
				}
			}
			t.Logf("failed: %v", failed)
			if core {
				// A flush proves the server read a message, not that the
				// stream stored it before the server went down.
				return
			}
			stored := map[string]uint64{}
			for _, m := range storedMsgs(t, ctx, stream) {
				stored[m.Header.Get("Nats-Msg-Id")] = m.Sequence
			}
			for i := range n {
				if out.errs[i] != nil {
					continue
				}
				id := fmt.Sprintf("id-%d", i)
				if seq, ok := stored[id]; !ok {
					t.Errorf("message %s was confirmed but is not in the stream", id)
				} else if seq != out.receipts[i].Seq {
					t.Errorf("message %s confirmed at seq %d, stored at %d", id, out.receipts[i].Seq, seq)
				}
			}
		})
	}
}

// blackHole deletes the stream behind a producer's subject and answers
// publishes to it with silence, so PubAcks never come.
func blackHole(t *testing.T, ctx context.Context, conn *Conn, stream, subject string) {
	t.Helper()
	if err := conn.JetStream().DeleteStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	sub, err := conn.NATS().Subscribe(subject, func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := conn.NATS().Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestProduceNoAck(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, ctx := natsConn(t, srv, broker.Target{})

	t.Run("timeout", func(t *testing.T) {
		createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}})
		p := newProducer(t, ctx, conn, broker.ProducerOptions{Destination: "t", ConfirmTimeout: 300 * time.Millisecond})
		blackHole(t, ctx, conn, "T", "t")
		out := newOutcomes(3)
		for i := range 3 {
			p.Publish(ctx, &broker.Message{Value: []byte("x")}, out.done(i))
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// No clock: each error names the confirm timeout, so that timer is
		// what failed the message; Flush returning bounds it from above.
		out.exactlyOnce(t)
		for i, err := range out.errs {
			if err == nil || err.Error() != "no response from JetStream within 300ms" {
				t.Errorf("message %d: err = %v, want the timeout", i, err)
			}
		}
	})

	t.Run("cancel while the window is full", func(t *testing.T) {
		createStream(t, ctx, conn.JetStream(), jetstream.StreamConfig{Name: "W", Subjects: []string{"w"}})
		p, err := conn.NewProducer(ctx, broker.ProducerOptions{Destination: "w", InFlight: 2, ConfirmTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		blackHole(t, ctx, conn, "W", "w")
		out := newOutcomes(4)
		p.Publish(ctx, &broker.Message{Value: []byte("a")}, out.done(0))
		p.Publish(ctx, &broker.Message{Value: []byte("b")}, out.done(1))

		pubCtx, cancel := context.WithCancel(ctx)
		blocked := make(chan struct{})
		go func() {
			defer close(blocked)
			p.Publish(pubCtx, &broker.Message{Value: []byte("c")}, out.done(2))
		}()
		select {
		case <-blocked:
			t.Fatal("Publish did not block on a full window")
		case <-time.After(100 * time.Millisecond):
		}
		cancel()
		<-blocked
		if err := out.errs[2]; !errors.Is(err, context.Canceled) {
			t.Errorf("blocked Publish: err = %v, want context.Canceled", err)
		}

		flushCtx, cancelFlush := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancelFlush()
		if err := p.Flush(flushCtx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush with acks outstanding = %v, want DeadlineExceeded", err)
		}

		// Close fails what is in flight; publishing afterwards fails too.
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		p.Publish(ctx, &broker.Message{Value: []byte("d")}, out.done(3))
		out.exactlyOnce(t)
		for _, i := range []int{0, 1, 3} {
			if err := out.errs[i]; err == nil || !strings.Contains(err.Error(), "producer closed") {
				t.Errorf("message %d: err = %v, want the producer closed", i, err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Errorf("Flush after Close = %v", err)
		}
	})
}

func TestProducePermissionDenied(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "admin-pass"},
			{Username: "writer", Password: "writer-pass", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"orders.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
			{Username: "reader", Password: "reader-pass", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}
	}})
	admin, ctx := natsConn(t, srv, broker.Target{Username: "admin", Password: "admin-pass"})
	t.Run("JetStream API denied", func(t *testing.T) {
		writer, _ := natsConn(t, srv, broker.Target{Username: "writer", Password: "writer-pass"})
		lookup, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := writer.NewProducer(lookup, broker.ProducerOptions{Destination: "orders.new"})
		if !mqerr.Is(err, mqerr.Auth) || !strings.Contains(err.Error(), "denied this user the JetStream API") {
			t.Errorf("err = %v (kind %v), want an auth error", err, mqerr.KindOf(err))
		}
	})
	createStream(t, ctx, admin.JetStream(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	reader, _ := natsConn(t, srv, broker.Target{Username: "reader", Password: "reader-pass"})

	for _, core := range []bool{false, true} {
		t.Run(fmt.Sprintf("core=%v", core), func(t *testing.T) {
			p := newProducer(t, ctx, reader, broker.ProducerOptions{Destination: "orders.new", Core: core, ConfirmTimeout: time.Minute})
			// The confirm timeout is a minute: an answer within Flush's
			// context can only be the denial (checked by its text below).
			out := newOutcomes(3)
			for i := range 3 {
				p.Publish(ctx, &broker.Message{Value: []byte("x")}, out.done(i))
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			out.exactlyOnce(t)
			for i, err := range out.errs {
				if !mqerr.Is(err, mqerr.Auth) || !strings.Contains(err.Error(), `denied this user publishing to "orders.new"`) {
					t.Errorf("message %d: err = %v (kind %v), want an auth error", i, err, mqerr.KindOf(err))
				}
			}
		})
	}
}

// benchConn opens a connection to a fresh server with a memory stream
// capped in size, so that long runs do not fill the machine.
func benchConn(b *testing.B) (*Conn, jetstream.JetStream) {
	b.Helper()
	srv := testenv.NATS(b, sandbox.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := driver{}.Open(ctx, broker.Target{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	conn := c.(*Conn)
	b.Cleanup(func() { conn.Close() })
	_, err = conn.JetStream().CreateStream(ctx, jetstream.StreamConfig{
		Name: "BENCH", Subjects: []string{"bench"}, Storage: jetstream.MemoryStorage, MaxMsgs: 200_000,
	})
	if err != nil {
		b.Fatal(err)
	}
	return conn, conn.JetStream()
}

var benchPayload = make([]byte, 128)

// BenchmarkProduceJetStream measures the producer against the embedded
// server; BenchmarkRawPublishAsync is the same load as a bare nats.go loop,
// the baseline it is compared with.
func BenchmarkProduceJetStream(b *testing.B) {
	conn, _ := benchConn(b)
	ctx := context.Background()
	p, err := conn.NewProducer(ctx, broker.ProducerOptions{Destination: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var failed atomic.Int64
	done := func(_ broker.Receipt, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	msg := &broker.Message{Value: benchPayload}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Publish(ctx, msg, done)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d messages failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkRawPublishAsync(b *testing.B) {
	conn, _ := benchConn(b)
	js, err := jetstream.New(conn.NATS(), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := js.PublishAsync("bench", benchPayload)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// The window stayed full past jetstream's stall wait (a busy
			// machine): let it drain, then send the message again.
			<-js.PublishAsyncComplete()
			i--
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
