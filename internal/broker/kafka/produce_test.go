package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// startKafka starts a cluster and opens a Conn to it.
func startKafka(t testing.TB, extra ...kfake.Opt) (*sandbox.Kafka, *Conn) {
	t.Helper()
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: extra})
	conn, err := driver{}.Open(context.Background(), broker.Target{URL: k.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	t.Cleanup(func() { c.Close() })
	return k, c
}

// dropConnections makes every nth request of key lose its connection
// before an answer, times times in all; dropped reports how many so far.
func dropConnections(cl *kfake.Cluster, key kmsg.Key, nth, times int) (dropped func() int) {
	var mu sync.Mutex
	seen, drops := 0, 0
	cl.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen%nth != 0 {
			return nil, nil, false
		}
		drops++
		if drops == times {
			cl.DropControl()
		} else {
			cl.KeepControl()
		}
		return nil, errors.New("injected connection drop"), true
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return drops
	}
}

// createTopic creates a topic with the given configs through kadm.
func createTopic(t testing.TB, c *Conn, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := c.Admin().CreateTopic(context.Background(), partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func newProducer(t testing.TB, c *Conn, o broker.ProducerOptions) *producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := c.NewProducer(ctx, o)
	if err != nil {
		t.Fatalf("NewProducer(%+v): %v", o, err)
	}
	t.Cleanup(func() { p.Close() })
	return p.(*producer)
}

// outcomes records every done call per message index.
type outcomes struct {
	mu       sync.Mutex
	calls    []int
	receipts []broker.Receipt
	errs     []error
}

func newOutcomes(n int) *outcomes {
	return &outcomes{calls: make([]int, n), receipts: make([]broker.Receipt, n), errs: make([]error, n)}
}

func (o *outcomes) done(i int) func(broker.Receipt, error) {
	return func(r broker.Receipt, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls[i]++
		o.receipts[i], o.errs[i] = r, err
	}
}

// exactlyOnce fails the test for any message whose done was not called
// exactly once.
func (o *outcomes) exactlyOnce(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, n := range o.calls {
		if n != 1 {
			t.Errorf("message %d: done called %d times, want 1", i, n)
		}
	}
}

// publishAll publishes msgs, flushes and checks every done came exactly once.
func publishAll(t *testing.T, p broker.Producer, msgs []*broker.Message) *outcomes {
	t.Helper()
	out := newOutcomes(len(msgs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, m := range msgs {
		p.Publish(ctx, m, out.done(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	return out
}

// readTopic returns every record the topic holds, read by a plain kgo
// consumer up to the end offsets at the time of the call.
func readTopic(t *testing.T, c *Conn, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	starts, err := c.Admin().ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset - starts[topic][o.Partition].Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for int64(len(recs)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records from %s: %v", len(recs), want, topic, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func TestProduceRoundTrip(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "rt", 4, nil)
	// Years old, far beyond the confirm timeout: kgo's own delivery
	// timeout counts from the record's timestamp and would fail these.
	ts := time.Date(2020, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	msgs := []*broker.Message{
		{
			Key:   []byte("k1"),
			Value: []byte("v1"),
			Headers: []broker.Header{
				{Key: "h", Value: []byte("1")},
				{Key: "bin", Value: []byte{0, 0xff, 0x80, '\n'}},
				{Key: "h", Value: []byte("2")},
				{Key: "empty", Value: nil},
				{Key: "h", Value: []byte("3")},
			},
			Timestamp: ts,
			Kafka:     broker.KafkaMeta{Partition: -1},
		},
		{Value: []byte{0xc3, 0x28, 0, 1, 2}, Timestamp: ts.Add(time.Hour), Kafka: broker.KafkaMeta{Partition: -1}},
		{Key: []byte{0xff, 0}, Value: nil, Kafka: broker.KafkaMeta{Partition: 2}},
	}
	p := newProducer(t, c, broker.ProducerOptions{Destination: "rt", ConfirmTimeout: time.Second})
	before := time.Now().Truncate(time.Millisecond)
	out := publishAll(t, p, msgs)
	for i, err := range out.errs {
		if err != nil {
			t.Fatalf("message %d failed: %v", i, err)
		}
	}

	recs := readTopic(t, c, "rt")
	if len(recs) != len(msgs) {
		t.Fatalf("topic holds %d records, want %d", len(recs), len(msgs))
	}
	for i, m := range msgs {
		r := findAt(recs, out.receipts[i])
		if r == nil {
			t.Fatalf("message %d: no record at receipt %+v", i, out.receipts[i])
		}
		if !bytes.Equal(r.Key, m.Key) || !bytes.Equal(r.Value, m.Value) {
			t.Errorf("message %d: got key %q value %q, want %q %q", i, r.Key, r.Value, m.Key, m.Value)
		}
		if (r.Key == nil) != (m.Key == nil) {
			t.Errorf("message %d: key nil-ness changed: got %v", i, r.Key)
		}
		if got, want := headerString(r.Headers), messageHeaderString(m.Headers); got != want {
			t.Errorf("message %d headers:\n got %s\nwant %s", i, got, want)
		}
		switch {
		case !m.Timestamp.IsZero() && !r.Timestamp.Equal(m.Timestamp):
			t.Errorf("message %d: timestamp %v, want %v", i, r.Timestamp, m.Timestamp)
		case m.Timestamp.IsZero() && r.Timestamp.Before(before):
			t.Errorf("message %d without timestamp got %v, before the publish at %v", i, r.Timestamp, before)
		}
	}
	if out.receipts[2].Partition != 2 {
		t.Errorf("message pinned to partition 2 went to %d", out.receipts[2].Partition)
	}
}

func findAt(recs []*kgo.Record, r broker.Receipt) *kgo.Record {
	for _, rec := range recs {
		if rec.Partition == r.Partition && rec.Offset == r.Offset {
			return rec
		}
	}
	return nil
}

func headerString(hs []kgo.RecordHeader) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s=%x;", h.Key, h.Value)
	}
	return b.String()
}

func messageHeaderString(hs []broker.Header) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s=%x;", h.Key, h.Value)
	}
	return b.String()
}

// javaMurmur2 is Utils.murmur2 from Apache Kafka's Java client, transcribed
// from the Java source independently of franz-go (Java ints, >>> as an
// unsigned shift).
func javaMurmur2(data []byte) int32 {
	const (
		seed = int32(-1756908916) // 0x9747b28c
		m    = int32(0x5bd1e995)
		r    = 24
	)
	length := int32(len(data))
	h := seed ^ length
	length4 := length / 4
	for i := int32(0); i < length4; i++ {
		i4 := i * 4
		k := int32(data[i4+0]) + int32(data[i4+1])<<8 + int32(data[i4+2])<<16 + int32(data[i4+3])<<24
		k *= m
		k ^= int32(uint32(k) >> r)
		k *= m
		h *= m
		h ^= k
	}
	switch length % 4 {
	case 3:
		h ^= int32(data[(length&^3)+2]) << 16
		fallthrough
	case 2:
		h ^= int32(data[(length&^3)+1]) << 8
		fallthrough
	case 1:
		h ^= int32(data[length&^3])
		h *= m
	}
	h ^= int32(uint32(h) >> 13)
	h *= m
	h ^= int32(uint32(h) >> 15)
	return h
}

// javaPartition is the Java client's partition for a keyed record:
// Utils.toPositive(Utils.murmur2(key)) % numPartitions.
func javaPartition(key []byte, n int32) int32 {
	return (javaMurmur2(key) & 0x7fffffff) % n
}

func TestJavaMurmur2(t *testing.T) {
	// Apache Kafka, clients/src/test/java/.../common/utils/UtilsTest.java, testMurmur2.
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := javaMurmur2([]byte(key)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestProduceMurmur2MatchesJava(t *testing.T) {
	_, c := startKafka(t)
	keys := [][]byte{
		[]byte("21"), []byte("foobar"), []byte("a-little-bit-long-string"), []byte("a-little-bit-longer-string"),
		[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), []byte("abc"),
		{}, {0}, {0xff, 0xfe, 0xfd}, {0x80, 0, 0, 0, 1},
	}
	for i := range 40 {
		keys = append(keys, fmt.Appendf(nil, "order-%d", i))
	}
	for _, n := range []int32{4, 7} {
		t.Run(fmt.Sprintf("%d partitions", n), func(t *testing.T) {
			topic := fmt.Sprintf("murmur-%d", n)
			createTopic(t, c, topic, n, nil)
			msgs := make([]*broker.Message, len(keys))
			for i, k := range keys {
				msgs[i] = &broker.Message{Key: k, Value: fmt.Appendf(nil, "v%d", i), Kafka: broker.KafkaMeta{Partition: -1}}
			}
			p := newProducer(t, c, broker.ProducerOptions{Destination: topic})
			out := publishAll(t, p, msgs)
			used := map[int32]bool{}
			for i, k := range keys {
				if out.errs[i] != nil {
					t.Fatalf("key %x: %v", k, out.errs[i])
				}
				want := javaPartition(k, n)
				if got := out.receipts[i].Partition; got != want {
					t.Errorf("key %q went to partition %d, the Java client picks %d", k, got, want)
				}
				used[out.receipts[i].Partition] = true
			}
			if len(used) != int(n) {
				t.Errorf("%d keys used only partitions %v of %d", len(keys), used, n)
			}
			recs := readTopic(t, c, topic)
			for i := range keys {
				if r := findAt(recs, out.receipts[i]); r == nil || !bytes.Equal(r.Key, keys[i]) {
					t.Errorf("key %q: receipt %+v does not point at it", keys[i], out.receipts[i])
				}
			}
		})
	}
}

func TestProducePartitioners(t *testing.T) {
	_, c := startKafka(t)
	unkeyed := func(i int) *broker.Message {
		return &broker.Message{Value: fmt.Appendf(nil, "m%d", i), Kafka: broker.KafkaMeta{Partition: -1}}
	}
	for _, tc := range []struct {
		name        string
		partitioner string
		msg         func(i int) *broker.Message
		// want is the partition message i must land in; nil means
		// any, and then the counts must be even.
		want func(i int) int32
	}{
		{name: "round-robin spreads evenly", partitioner: "round-robin", msg: unkeyed},
		{name: "round-robin honours a pinned partition", partitioner: "round-robin",
			msg:  func(i int) *broker.Message { m := unkeyed(i); m.Kafka.Partition = 3; return m },
			want: func(int) int32 { return 3 }},
		{name: "manual", partitioner: "manual",
			msg:  func(i int) *broker.Message { m := unkeyed(i); m.Kafka.Partition = int32(i*7) % 4; return m },
			want: func(i int) int32 { return int32(i*7) % 4 }},
		{name: "murmur2 honours a pinned partition over the key", partitioner: "murmur2",
			msg: func(i int) *broker.Message {
				return &broker.Message{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"), Kafka: broker.KafkaMeta{Partition: 1}}
			},
			want: func(int) int32 { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := strings.ReplaceAll(tc.name, " ", "-")
			createTopic(t, c, topic, 4, nil)
			msgs := make([]*broker.Message, 40)
			for i := range msgs {
				msgs[i] = tc.msg(i)
			}
			p := newProducer(t, c, broker.ProducerOptions{Destination: topic, Partitioner: tc.partitioner})
			out := publishAll(t, p, msgs)
			counts := map[int32]int{}
			for i := range msgs {
				if out.errs[i] != nil {
					t.Fatalf("message %d: %v", i, out.errs[i])
				}
				got := out.receipts[i].Partition
				counts[got]++
				if tc.want != nil && got != tc.want(i) {
					t.Errorf("message %d went to partition %d, want %d", i, got, tc.want(i))
				}
			}
			if tc.want == nil {
				for part := range int32(4) {
					if counts[part] != 10 {
						t.Errorf("partition counts %v, want 10 each", counts)
						break
					}
				}
			}
		})
	}
}

func TestManualPartitionerNeedsPartition(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "manual", 2, nil)
	p := newProducer(t, c, broker.ProducerOptions{Destination: "manual", Partitioner: "manual"})
	out := publishAll(t, p, []*broker.Message{
		{Value: []byte("no partition"), Kafka: broker.KafkaMeta{Partition: -1}},
		{Value: []byte("partition 1"), Kafka: broker.KafkaMeta{Partition: 1}},
	})
	if !mqerr.Is(out.errs[0], mqerr.Usage) || !strings.Contains(out.errs[0].Error(), "manual partitioner needs a partition") {
		t.Errorf("message without partition: %v (kind %v), want Usage", out.errs[0], mqerr.KindOf(out.errs[0]))
	}
	if out.errs[1] != nil || out.receipts[1].Partition != 1 {
		t.Errorf("message for partition 1: %+v, %v", out.receipts[1], out.errs[1])
	}
}

func TestNewProducerErrors(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "exists", 1, nil)
	for _, tc := range []struct {
		name string
		opts broker.ProducerOptions
		kind mqerr.Kind
		text string
	}{
		{"missing topic", broker.ProducerOptions{Destination: "nope"}, mqerr.NotFound, `topic "nope" does not exist on kafka at 127.0.0.1:`},
		{"no topic", broker.ProducerOptions{}, mqerr.Usage, "needs a topic"},
		{"bad acks", broker.ProducerOptions{Destination: "exists", Acks: "2"}, mqerr.Usage, `unknown kafka acks "2"`},
		{"bad compression", broker.ProducerOptions{Destination: "exists", Compression: "brotli"}, mqerr.Usage, `unknown kafka compression "brotli"`},
		{"bad partitioner", broker.ProducerOptions{Destination: "exists", Partitioner: "crc32"}, mqerr.Usage, `unknown kafka partitioner "crc32"`},
		{"negative in-flight", broker.ProducerOptions{Destination: "exists", InFlight: -1}, mqerr.Usage, "in-flight"},
		{"negative timeout", broker.ProducerOptions{Destination: "exists", ConfirmTimeout: -time.Second}, mqerr.Usage, "confirm timeout"},
		{"acks all", broker.ProducerOptions{Destination: "exists", Acks: "all"}, noError, ""},
		{"acks 1 gzip", broker.ProducerOptions{Destination: "exists", Acks: "1", Compression: "gzip"}, noError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, err := c.NewProducer(ctx, tc.opts)
			if tc.kind == noError {
				if err != nil {
					t.Fatalf("NewProducer: %v", err)
				}
				p.Close()
				return
			}
			if err == nil {
				p.Close()
				t.Fatalf("NewProducer succeeded, want %v", tc.kind)
			}
			if mqerr.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
		})
	}
	// The sandbox brokers create topics on request; the check must not.
	md, err := c.Admin().Metadata(context.Background(), "nope")
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := md.Topics["nope"]; ok && td.Err == nil {
		t.Error("NewProducer created the missing topic")
	}
}

func TestProduceAcksAndCompression(t *testing.T) {
	_, c := startKafka(t)
	for _, acks := range []string{"all", "1", "0"} {
		for _, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			t.Run(acks+"/"+comp, func(t *testing.T) {
				topic := "ac-" + acks + "-" + comp
				createTopic(t, c, topic, 2, nil)
				msgs := make([]*broker.Message, 50)
				for i := range msgs {
					msgs[i] = &broker.Message{Value: bytes.Repeat(fmt.Appendf(nil, "%s %s %d ", acks, comp, i), 20), Kafka: broker.KafkaMeta{Partition: -1}}
				}
				p := newProducer(t, c, broker.ProducerOptions{Destination: topic, Acks: acks, Compression: comp})
				out := publishAll(t, p, msgs)
				for i, err := range out.errs {
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if out.receipts[i].Unconfirmed != (acks == "0") {
						t.Errorf("message %d: Unconfirmed = %v with acks=%s", i, out.receipts[i].Unconfirmed, acks)
					}
				}
				if acks == "0" {
					// Flush returns once acks=0 records are sent, maybe
					// before the broker wrote them.
					waitForRecords(t, c, topic, len(msgs))
				}
				want := map[string]bool{}
				for _, m := range msgs {
					want[string(m.Value)] = true
				}
				recs := readTopic(t, c, topic)
				for _, r := range recs {
					if !want[string(r.Value)] {
						t.Errorf("unexpected record %q", r.Value)
					}
					delete(want, string(r.Value))
				}
				if len(want) > 0 {
					t.Errorf("%d messages missing from %s", len(want), topic)
				}
			})
		}
	}
}

// waitForRecords waits until topic holds at least n records.
func waitForRecords(t *testing.T, c *Conn, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ends, err := c.Admin().ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d records after 10s, want %d", topic, total, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProduceTooLarge checks that a record over the topic's limit fails
// alone, with the broker's reason, while the records around it go in.
func TestProduceTooLarge(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "small", 2, map[string]*string{"max.message.bytes": kadm.StringPtr("1000")})
	var msgs []*broker.Message
	for i := range 101 {
		v := fmt.Appendf(nil, "%099d", i)
		if i == 50 {
			v = bytes.Repeat([]byte("x"), 2000)
		}
		msgs = append(msgs, &broker.Message{Value: v, Kafka: broker.KafkaMeta{Partition: -1}})
	}
	p := newProducer(t, c, broker.ProducerOptions{Destination: "small"})
	out := publishAll(t, p, msgs)
	for i, err := range out.errs {
		if i == 50 {
			continue
		}
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	err := out.errs[50]
	if err == nil || !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("large message: %v, want MESSAGE_TOO_LARGE", err)
	}
	for _, s := range []string{"MESSAGE_TOO_LARGE", `topic "small"`, "max.message.bytes 1000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if recs := readTopic(t, c, "small"); len(recs) != 100 {
		t.Errorf("topic holds %d records, want 100", len(recs))
	}

	// A limit lowered after the producer started is only known to the
	// broker: its MESSAGE_TOO_LARGE answer must come back through done.
	adm := c.Admin()
	if _, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("500")}}, "small"); err != nil {
		t.Fatal(err)
	}
	out = publishAll(t, p, []*broker.Message{{Value: bytes.Repeat([]byte("y"), 800), Kafka: broker.KafkaMeta{Partition: 0}}})
	if err := out.errs[0]; !errors.Is(err, kerr.MessageTooLarge) || !strings.Contains(err.Error(), "compressed_bytes=") {
		t.Errorf("record over the lowered limit: %v, want the broker's MESSAGE_TOO_LARGE", err)
	}
}

// TestProduceFaults injects produce errors and dropped connections and
// checks the accounting: one done per message, every confirmed message in
// the topic exactly where its receipt says, nothing written twice.
func TestProduceFaults(t *testing.T) {
	t.Parallel() // mostly waiting for kgo's metadata refresh after NOT_LEADER
	k, c := startKafka(t)
	createTopic(t, c, "faulty", 4, nil)
	cl := k.Cluster()
	produceKey := []kmsg.Key{kmsg.Produce}
	retriable := cl.Fault(
		// Retried by kgo after a metadata refresh.
		kfake.Fault{Keys: produceKey, Err: kerr.NotLeaderForPartition, Count: 1},
		// Written, but the client hears a timeout and retries: the
		// idempotent producer must not write the batch twice.
		kfake.Fault{Keys: produceKey, Err: kerr.RequestTimedOut, Count: 3},
	)
	fatal := cl.Fault(kfake.Fault{Keys: produceKey, Partitions: []int32{3}, Err: kerr.InvalidRecord, Count: 2})
	// Every fifth produce request loses its connection before an answer,
	// four times in all.
	dropped := dropConnections(cl, kmsg.Produce, 5, 4)

	const n = 3000
	msgs := make([]*broker.Message, n)
	for i := range msgs {
		msgs[i] = &broker.Message{Value: fmt.Appendf(nil, "msg-%05d", i), Kafka: broker.KafkaMeta{Partition: -1}}
	}
	// Round-robin puts records on every partition, the faulted one too.
	p := newProducer(t, c, broker.ProducerOptions{Destination: "faulty", InFlight: 64, Partitioner: "round-robin"})
	out := publishAll(t, p, msgs)

	if retriable.Hits() != 4 || fatal.Hits() == 0 {
		t.Errorf("faults answered %d retriable and %d fatal requests, want 4 and at least 1", retriable.Hits(), fatal.Hits())
	}
	if n := dropped(); n != 4 {
		t.Errorf("dropped %d connections, want 4", n)
	}

	recs := readTopic(t, c, "faulty")
	stored := map[string]*kgo.Record{}
	for _, r := range recs {
		if prev := stored[string(r.Value)]; prev != nil {
			t.Errorf("%s written twice: %d@%d and %d@%d", r.Value, prev.Partition, prev.Offset, r.Partition, r.Offset)
		}
		stored[string(r.Value)] = r
	}
	// A failed message may still be in the topic: a batch written but
	// answered REQUEST_TIMED_OUT, then refused on its retry, was stored
	// yet is reported failed. Done with nil must mean stored; failed
	// means "not confirmed", and a retry by the user may duplicate it.
	failed, storedFailed := 0, 0
	published := map[string]bool{}
	for i, m := range msgs {
		published[string(m.Value)] = true
		r := stored[string(m.Value)]
		if err := out.errs[i]; err != nil {
			failed++
			if !errors.Is(err, kerr.InvalidRecord) || !strings.Contains(err.Error(), "INVALID_RECORD: ") {
				t.Errorf("%s failed with %v; only INVALID_RECORD is fatal here", m.Value, err)
			}
			if r != nil {
				storedFailed++
			}
			continue
		}
		rc := out.receipts[i]
		switch {
		case r == nil:
			t.Errorf("%s confirmed at %d@%d but not in the topic", m.Value, rc.Partition, rc.Offset)
		case r.Partition != rc.Partition || r.Offset != rc.Offset:
			t.Errorf("%s confirmed at %d@%d but stored at %d@%d", m.Value, rc.Partition, rc.Offset, r.Partition, r.Offset)
		}
	}
	for v := range stored {
		if !published[v] {
			t.Errorf("topic holds %q, which was never published", v)
		}
	}
	if failed == 0 || failed == n {
		t.Errorf("%d of %d messages failed; the fatal fault should fail some, not all", failed, n)
	}
	t.Logf("%d of %d messages failed with INVALID_RECORD, %d of them stored all the same", failed, n, storedFailed)
}

// TestPublishErrorKinds checks that the broker's refusals reach done typed
// and with the broker's reason.
func TestPublishErrorKinds(t *testing.T) {
	// Mostly waiting: kgo retries UNKNOWN_TOPIC_OR_PARTITION four times,
	// a metadata refresh (at most one per MetadataMinAge) apart, as the
	// Java client does.
	t.Parallel()
	for _, tc := range []struct {
		err  *kerr.Error
		kind mqerr.Kind
		text string
	}{
		{kerr.TopicAuthorizationFailed, mqerr.Auth, `denied writing to topic "kinds": TOPIC_AUTHORIZATION_FAILED: `},
		{kerr.UnknownTopicOrPartition, mqerr.NotFound, `topic "kinds" does not exist on kafka at 127.0.0.1:`},
		{kerr.PolicyViolation, mqerr.Failure, `rejected the message to topic "kinds": POLICY_VIOLATION: `},
	} {
		t.Run(tc.err.Message, func(t *testing.T) {
			t.Parallel()
			k, c := startKafka(t)
			createTopic(t, c, "kinds", 1, nil)
			k.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: tc.err, Count: -1})
			p := newProducer(t, c, broker.ProducerOptions{Destination: "kinds"})
			out := publishAll(t, p, []*broker.Message{{Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: -1}}})
			err := out.errs[0]
			if !mqerr.Is(err, tc.kind) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("done got %v (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
		})
	}
}

// holdProduce makes the broker sit on produce requests until release is
// closed.
func holdProduce(cl *kfake.Cluster, release <-chan struct{}) {
	cl.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cl.SleepControl(func() { <-release })
		return nil, nil, false
	})
}

func TestPublishBlockedCancel(t *testing.T) {
	k, c := startKafka(t)
	createTopic(t, c, "held", 1, nil)
	release := make(chan struct{})
	holdProduce(k.Cluster(), release)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	p := newProducer(t, c, broker.ProducerOptions{Destination: "held", InFlight: 2})
	out := newOutcomes(3)
	for i := range 2 {
		p.Publish(context.Background(), &broker.Message{Value: fmt.Appendf(nil, "m%d", i), Kafka: broker.KafkaMeta{Partition: -1}}, out.done(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		p.Publish(ctx, &broker.Message{Value: []byte("blocked"), Kafka: broker.KafkaMeta{Partition: -1}}, out.done(2))
	}()
	select {
	case <-returned:
		t.Fatal("Publish returned with a full in-flight window")
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still blocked after its ctx was cancelled")
	}

	// The held records cannot finish: Flush gives up when its ctx does.
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if err := p.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with held records = %v, want the deadline", err)
	}

	close(release)
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFlush()
	if err := p.Flush(flushCtx); err != nil {
		t.Fatalf("Flush after release: %v", err)
	}
	out.exactlyOnce(t)
	if !errors.Is(out.errs[2], context.Canceled) {
		t.Errorf("blocked message: %v, want context.Canceled", out.errs[2])
	}
	for i := range 2 {
		if out.errs[i] != nil {
			t.Errorf("message %d: %v", i, out.errs[i])
		}
	}
}

// TestConfirmTimeout checks that a message the broker does not answer fails
// after ConfirmTimeout. It uses acks=1: the idempotent producer (acks=all)
// rightly waits for the answer to a request already sent, since failing
// it could let a retry write the message twice.
func TestConfirmTimeout(t *testing.T) {
	k, c := startKafka(t)
	createTopic(t, c, "slow", 1, nil)
	release := make(chan struct{})
	defer close(release)
	holdProduce(k.Cluster(), release)

	p := newProducer(t, c, broker.ProducerOptions{Destination: "slow", Acks: "1", ConfirmTimeout: time.Second})
	out := newOutcomes(1)
	p.Publish(context.Background(), &broker.Message{Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: -1}}, out.done(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// No clock: the error names the confirm timeout, so that timer (not a
	// broker error, not Flush's deadline) is what failed the message, and
	// Flush returning before its own 10s deadline bounds it from above.
	out.exactlyOnce(t)
	err := out.errs[0]
	if err == nil || !strings.Contains(err.Error(), `did not confirm the message to topic "slow" within 1s`) {
		t.Errorf("unanswered message: %v", err)
	}
}

// TestPublishBrokerGone checks that messages to a cluster that went away
// fail after ConfirmTimeout, saying why.
func TestPublishBrokerGone(t *testing.T) {
	c, k := openDoomed(t)
	createTopic(t, c, "gone", 1, nil)
	p := newProducer(t, c, broker.ProducerOptions{Destination: "gone", ConfirmTimeout: time.Second})
	k.Close()

	out := newOutcomes(3)
	for i := range 3 {
		p.Publish(context.Background(), &broker.Message{Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: -1}}, out.done(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	out.exactlyOnce(t)
	for i, err := range out.errs {
		if err == nil || !strings.Contains(err.Error(), "did not confirm") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("message %d: %v, want a timeout naming the refused connection", i, err)
		}
	}
}

func TestCloseFailsInFlight(t *testing.T) {
	k, c := startKafka(t)
	createTopic(t, c, "closing", 1, nil)
	release := make(chan struct{})
	defer close(release)
	holdProduce(k.Cluster(), release)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pr, err := c.NewProducer(ctx, broker.ProducerOptions{Destination: "closing"})
	if err != nil {
		t.Fatal(err)
	}
	out := newOutcomes(6)
	for i := range 5 {
		// A slow done shows whether Close waits for it.
		record := out.done(i)
		slow := func(r broker.Receipt, err error) {
			time.Sleep(20 * time.Millisecond)
			record(r, err)
		}
		pr.Publish(ctx, &broker.Message{Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: -1}}, slow)
	}
	closed := make(chan error, 1)
	go func() { closed <- pr.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs with records in flight")
	}
	pr.Publish(ctx, &broker.Message{Value: []byte("late"), Kafka: broker.KafkaMeta{Partition: -1}}, out.done(5))
	out.exactlyOnce(t)
	for i, err := range out.errs {
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("message %d after Close: %v, want a closed error", i, err)
		}
	}
}

// BenchmarkProduce publishes 100-byte values to a 4-partition kfake topic
// and reports messages per second. The kgo case is a bare franz-go loop
// with the same settings, for comparison.
func BenchmarkProduce(b *testing.B) {
	_, c := startKafka(b)
	value := bytes.Repeat([]byte("x"), 100)
	// Every run gets a fresh topic.
	runs := 0
	b.Run("mqctl", func(b *testing.B) {
		runs++
		topic := fmt.Sprintf("bench-mqctl-%d", runs)
		createTopic(b, c, topic, 4, nil)
		p := newProducer(b, c, broker.ProducerOptions{Destination: topic})
		var failed sync.Once
		done := func(_ broker.Receipt, err error) {
			if err != nil {
				failed.Do(func() { b.Error(err) })
			}
		}
		msg := &broker.Message{Value: value, Kafka: broker.KafkaMeta{Partition: -1}}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			p.Publish(ctx, msg, done)
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("kgo", func(b *testing.B) {
		runs++
		topic := fmt.Sprintf("bench-kgo-%d", runs)
		createTopic(b, c, topic, 4, nil)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...), kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(defaultInFlight))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		var failed sync.Once
		promise := func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Do(func() { b.Error(err) })
			}
		}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// partitionCount is topic's number of partitions, 0 when it cannot be read.
func (c *Conn) partitionCount(ctx context.Context, topic string) int32 {
	md, err := c.admin.Metadata(ctx, topic)
	if err != nil {
		return 0
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return 0
	}
	return int32(len(td.Partitions))
}
