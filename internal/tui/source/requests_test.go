package source

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
	"github.com/mqctl/mqctl/internal/tui"
)

// The requests one refresh of top sends each broker, counted by the
// broker (kfake's control hook, a proxy in front of RabbitMQ's management
// API, a subscriber on $JS.API.>), once the first refresh connected and
// sampled the dead letters: what every later refresh costs. Run with -v
// to see the counts (BENCHMARKS.md):
//
//	go test ./internal/tui/source -run RequestsPerRefresh -v
//
// Each test reads two sizes and requires the same counts where a batched
// or paged request covers any size, but for what the protocol asks one
// at a time: JetStream lists consumers by stream, AMQP declares one
// queue.

// counter counts requests by a name.
type counter struct {
	mu sync.Mutex
	on bool
	n  map[string]int
}

func (c *counter) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.n[name]++
	}
}

// during counts the requests f makes.
func (c *counter) during(f func()) map[string]int {
	c.mu.Lock()
	c.on, c.n = true, map[string]int{}
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.n
}

func total(n map[string]int) int {
	t := 0
	for _, v := range n {
		t += v
	}
	return t
}

func show(n map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return fmt.Sprintf("%d (%s)", total(n), strings.Join(parts, ", "))
}

// steadyRefresh reads context 0 once (connect, sample the dead letters),
// then counts what a second read asks.
func steadyRefresh(t *testing.T, s *Brokers, c *counter) map[string]int {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Read(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var err error
	n := c.during(func() { _, err = s.Read(ctx, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRequestsPerRefreshKafka(t *testing.T) {
	counts := map[string]map[string]int{}
	read := func(brokers, topics, groups int) (string, map[string]int) {
		name := fmt.Sprintf("%d broker(s), %d topics × 4 partitions, %d groups", brokers, topics, groups)
		c := &counter{}
		k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: brokers})
		k.Cluster().Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.add(kmsg.NameForKey(req.Key()))
			return nil, nil, false // observe only
		})
		kafkaFixture(t, k, topics, groups)
		s := &Brokers{Targets: []broker.Target{{Context: "k", URL: k.URL, Timeout: 10 * time.Second}}}
		defer s.Close()
		n := steadyRefresh(t, s, c)
		t.Logf("kafka, %s: %s requests per refresh", name, show(n))
		return name, n
	}
	// Listing, lag and dead letters share one read of each: the
	// metadata and the group listing, the commits of every group and the
	// start and end offsets of every topic.
	want := map[string]int{"Metadata": 1, "ListGroups": 1, "DescribeGroups": 1, "OffsetFetch": 1, "ListOffsets": 2}
	for _, sz := range [][2]int{{10, 3}, {20, 5}} {
		name, n := read(1, sz[0], sz[1])
		counts[name] = n
		wantCounts(t, name, n, want)
	}
	sameCounts(t, counts)
	// Requests go to the partitions' leaders and the groups'
	// coordinators: at most one of each kind per broker, and one
	// metadata request.
	name, n := read(3, 20, 5)
	for k, v := range n {
		if most := 3 * want[k]; k == "Metadata" && v != 1 || v > most {
			t.Errorf("%s: %d %s requests, want at most %d per broker (1 Metadata): %s", name, v, k, want[k], show(n))
		}
	}
}

// kafkaFixture makes topics t00… of 4 partitions (the last a DLT of the
// first) with records in each, and groups that commit on 4 topics each.
func kafkaFixture(t *testing.T, k *sandbox.Kafka, topics, groups int) {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := make([]string, topics)
	for i := range topics - 1 {
		names[i] = fmt.Sprintf("t%02d", i)
	}
	names[topics-1] = "t00.DLT"
	if _, err := adm.CreateTopics(ctx, 4, 1, nil, names...); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, n := range names {
		for p := range 4 {
			for range 3 {
				recs = append(recs, &kgo.Record{Topic: n, Partition: int32(p), Value: []byte("v")})
			}
		}
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if err := cl2.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for g := range groups {
		offs := kadm.Offsets{}
		for j := range 4 {
			for p := range 4 {
				offs.AddOffset(names[(g*4+j)%(topics-1)], int32(p), 1, -1)
			}
		}
		if _, err := adm.CommitOffsets(ctx, fmt.Sprintf("g%d", g), offs); err != nil {
			t.Fatal(err)
		}
	}
}

// wantCounts requires exactly the requests want: a refresh's roles share
// what they read (broker.ShareReads), and one that reads again what
// another already read fails here.
func wantCounts(t *testing.T, name string, n, want map[string]int) {
	t.Helper()
	if !maps.Equal(n, want) {
		t.Errorf("%s: requests per refresh %s, want %s", name, show(n), show(want))
	}
}

// sameCounts requires every size to have asked the same requests.
func sameCounts(t *testing.T, counts map[string]map[string]int) {
	t.Helper()
	var first map[string]int
	for _, n := range counts {
		if first == nil {
			first = n
			continue
		}
		if !maps.Equal(first, n) {
			t.Errorf("requests per refresh grow with the size: %v", counts)
		}
	}
}

func TestRequestsPerRefreshRabbitMQ(t *testing.T) {
	env := testenv.RabbitMQ(t)
	api, err := url.Parse(env.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	proxy := httputil.NewSingleHostReverseProxy(api)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// By path without the vhost and names: /api/queues/%2F → /api/queues.
		p := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
		c.add(r.Method + " /" + strings.Join(p[:min(len(p), 2)], "/"))
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	amqpURL, err := url.Parse(env.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{}
	for _, queues := range []int{25, 50} {
		v := newVHost(t, env)
		viaProxy := *amqpURL
		px := testenv.NewProxy(t, amqpURL.Host)
		px.Tap(countMethods(c))
		viaProxy.Host = px.Addr
		viaProxy.Path = "/" + v.name
		ch := v.ch
		// Every fifth queue dead-letters into its own DLQ.
		for i := range queues {
			name := fmt.Sprintf("q%02d", i)
			var args amqp.Table
			if i%5 == 0 {
				args = amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name + ".dlq"}
				if _, err := ch.QueueDeclare(name+".dlq", true, false, false, false, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
				t.Fatal(err)
			}
			if err := ch.Publish("", name, false, false, amqp.Publishing{Body: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
		v.conn.Close()
		s := &Brokers{Targets: []broker.Target{{Context: "rabbit", URL: viaProxy.String(), ManagementURL: srv.URL, Timeout: 10 * time.Second}}}
		name := fmt.Sprintf("%d queues", queues+queues/5)
		counts[name] = steadyRefresh(t, s, c)
		s.Close()
		t.Logf("rabbitmq, %s: %s management API requests and AMQP methods per refresh", name, show(counts[name]))
		// A dead-letter queue's depth is read exactly, by a passive
		// declare each (AMQP declares one queue at a time); the rest
		// must not grow.
		if n := counts[name]["AMQP 50.10"]; n != queues/5 {
			t.Errorf("%s: %d queue.declare, want one per dead-letter queue (%d)", name, n, queues/5)
		}
		delete(counts[name], "AMQP 50.10")
		// One paged /api/queues answers listing, lag and dead letters;
		// the dead letters' routes need the policies; one channel
		// carries the passive declares.
		wantCounts(t, name, counts[name], map[string]int{"GET /api/queues": 1, "GET /api/policies": 1, "AMQP 20.10": 1, "AMQP 20.40": 1})
	}
	sameCounts(t, counts)
}

// countMethods reads the AMQP 0-9-1 stream a client sends and counts its
// method frames as "AMQP class.method" (50.10 is queue.declare, 60.70
// basic.get…); heartbeats and content frames are not requests.
func countMethods(c *counter) func(sent io.Reader) {
	return func(r io.Reader) {
		if _, err := io.ReadFull(r, make([]byte, 8)); err != nil { // AMQP 0-9-1 header
			return
		}
		head := make([]byte, 7) // type, channel, size
		for {
			if _, err := io.ReadFull(r, head); err != nil {
				return
			}
			payload := make([]byte, binary.BigEndian.Uint32(head[3:]))
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			// Counted before the frame end is read: the proxy forwards
			// what the tap reads, so the broker cannot act on the method
			// (and a refresh cannot end) before it is counted.
			if head[0] == 1 && len(payload) >= 4 {
				c.add(fmt.Sprintf("AMQP %d.%d", binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])))
			}
			if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
				return
			}
		}
	}
}

func TestRequestsPerRefreshNATS(t *testing.T) {
	ctx := context.Background()
	counts := map[string]map[string]int{}
	for _, streams := range []int{5, 10} {
		srv := testenv.NATS(t, sandbox.NATSOptions{})
		nc, err := nats.Connect(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		for i := range streams {
			name := fmt.Sprintf("S%02d", i)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}}); err != nil {
				t.Fatal(err)
			}
			for j := range 3 {
				if _, err := js.Publish(ctx, fmt.Sprintf("%s.%d", strings.ToLower(name), j), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			for j := range 2 {
				if _, err := js.CreateConsumer(ctx, name, jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", j), AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
					t.Fatal(err)
				}
			}
		}
		c := &counter{}
		marked := make(chan struct{}, 1)
		// By API verb: $JS.API.CONSUMER.LIST.S01 → CONSUMER.LIST. One
		// subscription sees the requests and then the mark, in order.
		sub, err := nc.Subscribe(">", func(m *nats.Msg) {
			switch {
			case m.Subject == "mqctl-test.mark":
				marked <- struct{}{}
			case strings.HasPrefix(m.Subject, "$JS.API."):
				p := strings.Split(strings.TrimPrefix(m.Subject, "$JS.API."), ".")
				c.add(strings.Join(p[:min(len(p), 2)], "."))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		s := &Brokers{Targets: []broker.Target{{Context: "js", URL: srv.URL, Timeout: 10 * time.Second}}}
		name := fmt.Sprintf("%d streams × 2 consumers", streams)
		// The requests a read made reached the server before its
		// answers, so before the mark published after it.
		read := func() error {
			_, err := s.Read(ctx, 0)
			if err := nc.Publish("mqctl-test.mark", nil); err != nil {
				t.Fatal(err)
			}
			<-marked
			return err
		}
		if err := read(); err != nil {
			t.Fatal(err)
		}
		counts[name] = c.during(func() { err = read() })
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		sub.Unsubscribe()
		nc.Close()
		t.Logf("nats, %s: %s $JS.API requests per refresh", name, show(counts[name]))
		// The API lists consumers by stream only: one request each (per
		// 256 consumers); the rest must not grow.
		if n := counts[name]["CONSUMER.LIST"]; n != streams {
			t.Errorf("%s: %d consumer listings, want one per stream", name, n)
		}
		delete(counts[name], "CONSUMER.LIST")
		// One paged stream listing answers listing, lag and dead letters.
		wantCounts(t, name, counts[name], map[string]int{"STREAM.LIST": 1})
	}
	sameCounts(t, counts)
}

// Time lags cost a refresh a fetch of each lagging partition's next
// record, by a consumer client of its own (as `mqctl lag --time-lag`):
// a read asks for them only every TimeLagEvery, and the reads between
// cost what a refresh without them costs. Run with -v for the counts.
func TestRequestsPerRefreshKafkaTimeLag(t *testing.T) {
	c := &counter{}
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	k.Cluster().Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.add(kmsg.NameForKey(req.Key()))
		return nil, nil, false // observe only
	})
	// 50 groups, each 2 records behind on 16 partitions of 4 topics.
	kafkaFixture(t, k, 20, 50)
	ctx := context.Background()
	// The second of two reads (the first connects), and both snapshots.
	read := func(every time.Duration) (map[string]int, []tui.Snapshot) {
		s := &Brokers{Targets: []broker.Target{{Context: "k", URL: k.URL, Timeout: 10 * time.Second}}, TimeLagEvery: every}
		defer s.Close()
		var snaps []tui.Snapshot
		var n map[string]int
		for range 2 {
			var sn tui.Snapshot
			var err error
			n = c.during(func() { sn, err = s.Read(ctx, 0) })
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, sn)
		}
		return n, snaps
	}
	never, snaps := read(-1)
	for _, sn := range snaps {
		if sn.TimeLag || sn.Lag[0].TimeLag != 0 {
			t.Fatalf("TimeLagEvery < 0 asked for time lags: %+v", sn.Lag[0])
		}
	}
	t.Logf("kafka, 50 groups × 16 partitions: without time lags %s requests per refresh", show(never))
	always, _ := read(time.Nanosecond)
	t.Logf("kafka, 50 groups × 16 partitions: with time lags %s requests per refresh", show(always))
	between, snaps := read(time.Hour)
	if !snaps[0].TimeLag || snaps[1].TimeLag {
		t.Errorf("the first read should ask for time lags and the second not: %v, %v", snaps[0].TimeLag, snaps[1].TimeLag)
	}
	for _, r := range snaps[0].Lag {
		if r.Lag > 0 && r.TimeLag <= 0 {
			t.Errorf("a lagging row without its time lag: %+v", r)
		}
	}
	if !maps.Equal(between, never) {
		t.Errorf("a read between those that ask costs %s, want what one without time lags costs: %s", show(between), show(never))
	}
	if always["Fetch"] == 0 {
		t.Errorf("a read that asks for time lags fetched nothing: %s", show(always))
	}
}
