package kafka

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// writer returns a client that writes records to the partition they name.
func writer(t testing.TB, c *Conn) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newConsumer opens a consumer closed when t ends.
func newConsumer(t testing.TB, c *Conn, o broker.ConsumerOptions) broker.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := c.NewConsumer(ctx, o)
	if err != nil {
		t.Fatalf("NewConsumer(%+v): %v", o, err)
	}
	t.Cleanup(func() { cons.Close() })
	return cons
}

// take reads n deliveries, failing the test when they do not come in time.
func take(t testing.TB, cons broker.Consumer, n int) []*broker.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make([]*broker.Delivery, 0, n)
	for len(out) < n {
		d, err := cons.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d deliveries: %v", len(out), n, err)
		}
		out = append(out, d)
	}
	return out
}

// drain reads until io.EOF (UntilEnd), failing on any other error.
func drain(t testing.TB, cons broker.Consumer) []*broker.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*broker.Delivery
	for {
		d, err := cons.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d deliveries: %v", len(out), err)
		}
		out = append(out, d)
	}
}

// committed returns group's committed offset per partition of topic.
func committed(t testing.TB, c *Conn, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := c.Admin().FetchOffsets(context.Background(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, r := range resp[topic] {
		out[p] = r.At
	}
	return out
}

// positions lists deliveries as "partition@offset".
func positions(ds []*broker.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%d@%d", d.Kafka.Partition, d.Kafka.Offset)
	}
	slices.Sort(out)
	return out
}

// span lists "partition@offset" for offsets [from, to) of partition p.
func span(p int32, from, to int64) []string {
	var out []string
	for o := from; o < to; o++ {
		out = append(out, fmt.Sprintf("%d@%d", p, o))
	}
	return out
}

func sortedSpans(spans ...[]string) []string {
	out := slices.Concat(spans...)
	slices.Sort(out)
	return out
}

func TestConsumeRoundTrip(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "rt", 2, nil)
	ts := time.Date(2021, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	recs := []*kgo.Record{
		{Partition: 0, Key: []byte("k1"), Value: []byte("v1"), Timestamp: ts, Headers: []kgo.RecordHeader{
			{Key: "h", Value: []byte("1")},
			{Key: "bin", Value: []byte{0, 0xff, 0x80, '\n'}},
			{Key: "h", Value: []byte("2")},
			{Key: "empty", Value: nil},
		}},
		{Partition: 1, Key: []byte{0xff, 0, 0xc3}, Value: []byte{0xc3, 0x28, 0, 1, 2}, Timestamp: ts.Add(time.Hour)},
		{Partition: 1, Key: nil, Value: nil, Timestamp: ts.Add(2 * time.Hour), Headers: []kgo.RecordHeader{{Key: "only", Value: []byte("x")}}},
		{Partition: 0, Key: []byte("k2"), Value: bytes.Repeat([]byte{0xaa}, 3000), Timestamp: ts.Add(3 * time.Hour)},
	}
	for _, r := range recs {
		r.Topic = "rt"
	}
	if err := writer(t, c).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"rt"}, UntilEnd: true})
	got := drain(t, cons)
	if len(got) != len(recs) {
		t.Fatalf("got %d deliveries, want %d", len(got), len(recs))
	}
	for _, r := range recs {
		var d *broker.Delivery
		for _, g := range got {
			if g.Kafka.Partition == r.Partition && g.Kafka.Offset == r.Offset {
				d = g
			}
		}
		if d == nil {
			t.Fatalf("no delivery for %d@%d", r.Partition, r.Offset)
		}
		if !bytes.Equal(d.Key, r.Key) || (d.Key == nil) != (r.Key == nil) {
			t.Errorf("%d@%d: key %q, want %q", r.Partition, r.Offset, d.Key, r.Key)
		}
		if !bytes.Equal(d.Value, r.Value) {
			t.Errorf("%d@%d: value %q, want %q", r.Partition, r.Offset, d.Value, r.Value)
		}
		if got, want := messageHeaderString(d.Headers), headerString(r.Headers); got != want {
			t.Errorf("%d@%d headers:\n got %s\nwant %s", r.Partition, r.Offset, got, want)
		}
		if !d.Timestamp.Equal(r.Timestamp) {
			t.Errorf("%d@%d: timestamp %v, want %v", r.Partition, r.Offset, d.Timestamp, r.Timestamp)
		}
		if d.Destination != "rt" {
			t.Errorf("%d@%d: destination %q, want rt", r.Partition, r.Offset, d.Destination)
		}
		// Without a group every verb is accepted and does nothing.
		if err := d.Ack(context.Background()); err != nil {
			t.Errorf("Ack without a group: %v", err)
		}
	}
	if n := cons.Buffered(); n != 0 {
		t.Errorf("Buffered() = %d after io.EOF", n)
	}
}

// settlePlan settles the deliveries of one partition: 'A' ack, 'N' nack,
// 'T' term, '-' leave unsettled; order lists the indexes in settle order.
func settlePlan(t *testing.T, ds []*broker.Delivery, plan string, order []int) {
	t.Helper()
	ctx := context.Background()
	for _, i := range order {
		var err error
		switch plan[i] {
		case 'A':
			err = ds[i].Ack(ctx)
		case 'N':
			err = ds[i].Nack(ctx, 0)
		case 'T':
			err = ds[i].Term(ctx)
		}
		if err != nil {
			t.Fatalf("settle %c of offset %d: %v", plan[i], ds[i].Kafka.Offset, err)
		}
	}
}

// TestConsumeGroupCommits checks what a group member commits at Close for
// acks, nacks, terms and unsettled records, and that a new member of the
// group starts exactly there.
func TestConsumeGroupCommits(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "orders", 1, nil)
	produce(t, writer(t, c), "orders", map[int32]int{0: 8})
	inOrder := []int{0, 1, 2, 3, 4, 5, 6, 7}
	reversed := []int{7, 6, 5, 4, 3, 2, 1, 0}
	for _, tc := range []struct {
		name   string
		plan   string
		order  []int
		commit int64 // -1: nothing committed
	}{
		{"all acked", "AAAAAAAA", inOrder, 8},
		{"all acked in reverse", "AAAAAAAA", reversed, 8},
		{"unsettled tail", "AAA-----", inOrder, 3},
		{"unsettled in the middle", "AAA-AAAA", reversed, 3},
		{"nack leaves a hole", "AANAAAAA", inOrder, 2},
		{"term counts as handled", "ATTAAAAA", reversed, 8},
		{"nothing settled", "--------", nil, -1},
		{"nack first", "NAAAAAAA", inOrder, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := strings.ReplaceAll(tc.name, " ", "-")
			o := broker.ConsumerOptions{Sources: []string{"orders"}, Group: group}
			cons := newConsumer(t, c, o)
			ds := take(t, cons, 8)
			settlePlan(t, ds, tc.plan, tc.order)
			if err := cons.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, ok := committed(t, c, group, "orders")[0]
			if !ok {
				got = -1
			}
			if got != tc.commit {
				t.Fatalf("committed %d, want %d", got, tc.commit)
			}

			// A new member starts at the commit (the beginning
			// without one) and reads to the end.
			o.UntilEnd = true
			again := drain(t, newConsumer(t, c, o))
			want := span(0, max(tc.commit, 0), 8)
			if got := positions(again); !slices.Equal(got, want) {
				t.Errorf("second member read %v, want %v", got, want)
			}
		})
	}
}

// produceStamped writes n records to each partition of topic, record i
// stamped base + i seconds.
func produceStamped(t *testing.T, c *Conn, topic string, partitions int32, n int, base time.Time) {
	t.Helper()
	var rs []*kgo.Record
	for p := range partitions {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i),
				Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := writer(t, c).ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestConsumeStartPositions(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "pos", 2, nil)
	base := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	produceStamped(t, c, "pos", 2, 10, base)

	both := func(from, to int64) []string { return sortedSpans(span(0, from, to), span(1, from, to)) }
	at := func(kind broker.StartKind, n int64) broker.StartPosition {
		return broker.StartPosition{Kind: kind, N: n}
	}
	resumed := sortedSpans(span(0, 6, 10), span(1, 0, 10))
	for _, tc := range []struct {
		name string
		o    broker.ConsumerOptions
		// group: consume as this group, which committed 6 in
		// partition 0 and nothing in partition 1 unless fresh.
		group string
		fresh bool
		want  []string
	}{
		{name: "default", want: both(0, 10)},
		{name: "beginning", o: broker.ConsumerOptions{From: at(broker.StartBeginning, 0)}, want: both(0, 10)},
		{name: "end", o: broker.ConsumerOptions{From: at(broker.StartEnd, 0)}, want: nil},
		{name: "offset", o: broker.ConsumerOptions{From: at(broker.StartOffset, 7)}, want: both(7, 10)},
		{name: "offset past the end", o: broker.ConsumerOptions{From: at(broker.StartOffset, 99)}, want: nil},
		{name: "last", o: broker.ConsumerOptions{From: at(broker.StartLast, 2)}, want: both(8, 10)},
		{name: "last more than there are", o: broker.ConsumerOptions{From: at(broker.StartLast, 50)}, want: both(0, 10)},
		{name: "time", o: broker.ConsumerOptions{From: broker.StartPosition{Kind: broker.StartTime, Time: base.Add(4500 * time.Millisecond)}}, want: both(5, 10)},
		{name: "time after all", o: broker.ConsumerOptions{From: broker.StartPosition{Kind: broker.StartTime, Time: base.Add(time.Hour)}}, want: nil},
		{name: "one partition", o: broker.ConsumerOptions{Partitions: []int32{1}, From: at(broker.StartLast, 3)}, want: span(1, 7, 10)},
		{name: "group default", group: "g-default", want: resumed},
		{name: "group stored", group: "g-stored", o: broker.ConsumerOptions{From: at(broker.StartStored, 0)}, want: resumed},
		{name: "group beginning", group: "g-beginning", o: broker.ConsumerOptions{From: at(broker.StartBeginning, 0)}, want: both(0, 10)},
		{name: "group last", group: "g-last", o: broker.ConsumerOptions{From: at(broker.StartLast, 1)}, want: both(9, 10)},
		{name: "group end", group: "g-end", o: broker.ConsumerOptions{From: at(broker.StartEnd, 0)}, want: nil},
		{name: "new group stored", group: "g-fresh", fresh: true, o: broker.ConsumerOptions{From: at(broker.StartStored, 0)}, want: both(0, 10)},
		{name: "peek group", group: "g-peek", o: broker.ConsumerOptions{Peek: true}, want: resumed},
		{name: "peek group offset", group: "g-peek-offset", o: broker.ConsumerOptions{Peek: true, From: at(broker.StartOffset, 8)}, want: both(8, 10)},
		{name: "peek unknown group", group: "g-peek-fresh", fresh: true, o: broker.ConsumerOptions{Peek: true}, want: both(0, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Sources, o.UntilEnd, o.Group = []string{"pos"}, true, tc.group
			if tc.group != "" && !tc.fresh {
				commit(t, c.Admin(), tc.group, kadm.Offset{Topic: "pos", Partition: 0, At: 6})
			}
			cons := newConsumer(t, c, o)
			ds := drain(t, cons)
			if got := positions(ds); !slices.Equal(got, tc.want) {
				t.Errorf("read %v\nwant %v", got, tc.want)
			}
			for _, d := range ds {
				if err := d.Ack(context.Background()); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			}
			if err := cons.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if !o.Peek {
				return
			}
			// Peeking commits nothing and never joins the group.
			want := map[int32]int64{0: 6}
			if tc.fresh {
				want = map[int32]int64{}
			}
			if got := committed(t, c, tc.group, "pos"); !maps.Equal(got, want) {
				t.Errorf("after a peek the group committed %v, want %v", got, want)
			}
			described, err := c.Admin().DescribeGroups(context.Background(), tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if g := described[tc.group]; len(g.Members) > 0 {
				t.Errorf("group %s has %d members after a peek; a peek must not join", tc.group, len(g.Members))
			}
		})
	}
}

// TestConsumeGroupRewindOnce checks that an explicit From moves a group
// member only on its first assignment: the next run resumes from what the
// first one committed.
func TestConsumeGroupRewindOnce(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "rw", 1, nil)
	produce(t, writer(t, c), "rw", map[int32]int{0: 10})
	commit(t, c.Admin(), "g", kadm.Offset{Topic: "rw", Partition: 0, At: 9})

	o := broker.ConsumerOptions{Sources: []string{"rw"}, Group: "g", UntilEnd: true, From: broker.StartPosition{Kind: broker.StartOffset, N: 2}}
	cons := newConsumer(t, c, o)
	ds := drain(t, cons)
	if got, want := positions(ds), span(0, 2, 10); !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// Handled up to offset 4; the commit moves back from 9 to 5.
	settlePlan(t, ds, "AAA", []int{0, 1, 2})
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "g", "rw")[0]; got != 5 {
		t.Fatalf("committed %d, want 5", got)
	}
	o.From = broker.StartPosition{}
	if got, want := positions(drain(t, newConsumer(t, c, o))), span(0, 5, 10); !slices.Equal(got, want) {
		t.Errorf("next run read %v, want %v", got, want)
	}
}

// TestConsumeUntilEndSnapshot checks that UntilEnd stops at what existed
// when the consumer started, and counts empty partitions as read.
func TestConsumeUntilEndSnapshot(t *testing.T) {
	for _, group := range []string{"", "snap"} {
		t.Run("group="+group, func(t *testing.T) {
			k, c := startKafka(t)
			createTopic(t, c, "snap", 3, nil)
			produce(t, writer(t, c), "snap", map[int32]int{0: 5, 2: 3})
			// Fetches wait until the records written after the
			// start are in, so the consumer sees them and must
			// leave them out.
			release := make(chan struct{})
			k.Cluster().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				k.Cluster().SleepControl(func() { <-release })
				return nil, nil, false
			})
			cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"snap"}, Group: group, UntilEnd: true})
			produce(t, writer(t, c), "snap", map[int32]int{0: 2, 1: 4, 2: 1})
			close(release)
			ds := drain(t, cons)
			if got, want := positions(ds), sortedSpans(span(0, 0, 5), span(2, 0, 3)); !slices.Equal(got, want) {
				t.Errorf("read %v, want %v", got, want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if _, err := cons.Next(ctx); !errors.Is(err, io.EOF) {
				t.Errorf("Next after io.EOF = %v, want io.EOF again", err)
			}
		})
	}
}

func TestConsumeEmptyTopicUntilEnd(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "empty", 2, nil)
	for _, group := range []string{"", "g"} {
		start := time.Now()
		if ds := drain(t, newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"empty"}, Group: group, UntilEnd: true})); len(ds) != 0 {
			t.Errorf("group %q: read %d records from an empty topic", group, len(ds))
		}
		if elapsed := time.Since(start); elapsed > testenv.Deadline(0) {
			t.Errorf("group %q: io.EOF took %v", group, elapsed)
		}
	}
}

func TestNewConsumerErrors(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "there", 2, nil)
	for _, tc := range []struct {
		name string
		o    broker.ConsumerOptions
		kind mqerr.Kind
		text string
	}{
		{"missing topic", broker.ConsumerOptions{Sources: []string{"nope"}}, mqerr.NotFound, `topic "nope" does not exist on kafka at 127.0.0.1:`},
		{"one of two missing", broker.ConsumerOptions{Sources: []string{"there", "gone"}, Group: "g"}, mqerr.NotFound, `topic "gone" does not exist`},
		{"missing partition", broker.ConsumerOptions{Sources: []string{"there"}, Partitions: []int32{0, 5}}, mqerr.NotFound, `topic "there" has no partition 5`},
		{"no topic", broker.ConsumerOptions{}, mqerr.Usage, "needs at least one topic"},
		{"partitions with group", broker.ConsumerOptions{Sources: []string{"there"}, Group: "g", Partitions: []int32{1}}, mqerr.Usage, "cannot be chosen with a group"},
		{"stored without group", broker.ConsumerOptions{Sources: []string{"there"}, From: broker.StartPosition{Kind: broker.StartStored}}, mqerr.Usage, "--from stored needs --group"},
		{"negative offset", broker.ConsumerOptions{Sources: []string{"there"}, From: broker.StartPosition{Kind: broker.StartOffset, N: -1}}, mqerr.Usage, "must not be negative"},
		{"no time", broker.ConsumerOptions{Sources: []string{"there"}, From: broker.StartPosition{Kind: broker.StartTime}}, mqerr.Usage, "start time is missing"},
		{"nats option", broker.ConsumerOptions{Sources: []string{"there"}, Durable: "d"}, mqerr.Usage, "NATS options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cons, err := c.NewConsumer(ctx, tc.o)
			if err == nil {
				cons.Close()
				t.Fatal("NewConsumer succeeded")
			}
			if !mqerr.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// waitCommitted waits until group's commit for partition p of topic is
// want, and fails the test if it is not after a few commit intervals.
func waitCommitted(t *testing.T, c *Conn, group, topic string, p int32, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * commitInterval)
	for {
		got, ok := committed(t, c, group, topic)[p]
		if ok && got == want {
			return
		}
		if ok && got > want {
			t.Fatalf("partition %d committed %d, past %d", p, got, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %d committed %d (found %v), want %d", p, got, ok, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsumeCommitsWhileRunning checks the periodic commit: what a crash
// would leave behind is the handled prefix, never more.
func TestConsumeCommitsWhileRunning(t *testing.T) {
	t.Parallel() // waits for commit intervals
	_, c := startKafka(t)
	createTopic(t, c, "live", 2, nil)
	produce(t, writer(t, c), "live", map[int32]int{0: 6, 1: 6})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"live"}, Group: "g"})
	ds := take(t, cons, 12)
	byPart := map[int32][]*broker.Delivery{}
	for _, d := range ds {
		byPart[d.Kafka.Partition] = append(byPart[d.Kafka.Partition], d)
	}
	settlePlan(t, byPart[0], "AA-AAA", []int{5, 4, 3, 1, 0})
	settlePlan(t, byPart[1], "AAAAAA", []int{0, 1, 2, 3, 4, 5})
	waitCommitted(t, c, "g", "live", 0, 2)
	waitCommitted(t, c, "g", "live", 1, 6)
	// Still at 2 a commit interval later: offset 2 is not handled.
	time.Sleep(commitInterval + 200*time.Millisecond)
	waitCommitted(t, c, "g", "live", 0, 2)

	settlePlan(t, byPart[0], "AAAAAA", []int{2})
	waitCommitted(t, c, "g", "live", 0, 6)
}

func TestConsumeBufferedAndPrefetch(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "buf", 1, nil)
	produce(t, writer(t, c), "buf", map[int32]int{0: 50})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"buf"}, Prefetch: 8, UntilEnd: true})
	if n := cons.Buffered(); n != 0 {
		t.Fatalf("Buffered() = %d before the first Next", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var prev int64 = -1
	for read := 0; ; read++ {
		buffered := cons.Buffered()
		if buffered >= 8 {
			t.Fatalf("Buffered() = %d with Prefetch 8 after a Next", buffered)
		}
		d, err := cons.Next(ctx)
		if errors.Is(err, io.EOF) {
			if read != 50 {
				t.Fatalf("io.EOF after %d records, want 50", read)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Kafka.Offset != prev+1 {
			t.Fatalf("offset %d after %d", d.Kafka.Offset, prev)
		}
		prev = d.Kafka.Offset
		if buffered > 0 && cons.Buffered() != buffered-1 {
			t.Fatalf("Buffered() went from %d to %d over one Next", buffered, cons.Buffered())
		}
	}
}

func TestSettleAfterClose(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "late", 1, nil)
	produce(t, writer(t, c), "late", map[int32]int{0: 3})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"late"}, Group: "g"})
	ds := take(t, cons, 3)
	if err := ds[0].Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cons.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := ds[1].Ack(context.Background())
	if !errors.Is(err, broker.ErrStaleDelivery) {
		t.Errorf("Ack after Close = %v, want ErrStaleDelivery", err)
	}
	if got := committed(t, c, "g", "late")[0]; got != 1 {
		t.Errorf("committed %d, want 1", got)
	}
	if _, err := cons.Next(context.Background()); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Next after Close = %v, want an error", err)
	}
}

// TestConsumeRebalance starts a second member while the first holds
// unsettled deliveries: the partitions it gives up are committed up to
// what it handled, their deliveries go stale (Stale says so before a
// settle fails), and the new owner reads from that commit.
func TestConsumeRebalance(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "reb", 4, nil)
	produce(t, writer(t, c), "reb", map[int32]int{0: 4, 1: 4, 2: 4, 3: 4})
	a := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"reb"}, Group: "g"})
	first := take(t, a, 16)
	// a handles offsets 0 and 1 of every partition, leaves the rest.
	for _, d := range first {
		if broker.IsStale(d) {
			t.Fatalf("%d@%d stale before any rebalance", d.Kafka.Partition, d.Kafka.Offset)
		}
		if d.Kafka.Offset < 2 {
			if err := d.Ack(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"reb"}, Group: "g"})
	waitBalanced(t, c, "g", 2)
	// b reads offsets 2 and 3 of the two partitions it got.
	fromB := take(t, b, 4)
	moved := map[int32]bool{}
	for _, d := range fromB {
		moved[d.Kafka.Partition] = true
		if d.Kafka.Offset < 2 {
			t.Errorf("b read %d@%d, which a handled and committed", d.Kafka.Partition, d.Kafka.Offset)
		}
	}
	if len(moved) != 2 {
		t.Fatalf("b read %v, want offsets 2 and 3 of two partitions", positions(fromB))
	}
	for _, d := range first {
		if d.Kafka.Offset < 2 {
			continue
		}
		if broker.IsStale(d) != moved[d.Kafka.Partition] {
			t.Errorf("%d@%d stale: %v, partition moved: %v", d.Kafka.Partition, d.Kafka.Offset, broker.IsStale(d), moved[d.Kafka.Partition])
		}
		err := d.Ack(context.Background())
		if moved[d.Kafka.Partition] != errors.Is(err, broker.ErrStaleDelivery) {
			t.Errorf("a acking %d@%d after the rebalance: %v (partition moved: %v)", d.Kafka.Partition, d.Kafka.Offset, err, moved[d.Kafka.Partition])
		}
	}
	for _, d := range fromB {
		if err := d.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	want := map[int32]int64{0: 4, 1: 4, 2: 4, 3: 4}
	if got := committed(t, c, "g", "reb"); !maps.Equal(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}
}

// waitBalanced waits until group is stable with n members that each hold
// partitions.
func waitBalanced(t *testing.T, c *Conn, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		described, err := c.Admin().DescribeGroups(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		g := described[group]
		ok := g.State == "Stable" && len(g.Members) == n
		for _, m := range g.Members {
			a, isConsumer := m.Assigned.AsConsumer()
			ok = ok && isConsumer && len(a.Topics) > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %s with %d members, want %d with partitions each", group, g.State, len(g.Members), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines collects Logf output.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestConsumeNackWarns(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "nk", 1, nil)
	produce(t, writer(t, c), "nk", map[int32]int{0: 3})
	for _, group := range []string{"", "g"} {
		var logs logLines
		cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"nk"}, Group: group, Logf: logs.add})
		for _, d := range take(t, cons, 3) {
			if err := d.Nack(context.Background(), time.Second); err != nil {
				t.Fatalf("Nack: %v", err)
			}
		}
		if n := strings.Count(logs.String(), "\n") + 1; logs.String() == "" || n != 1 {
			t.Errorf("group %q: three nacks logged %q, want one warning", group, logs.String())
		}
	}
}

// TestConsumeFaults makes fetches and commits fail for a while and drops
// connections: Next keeps going, warns, loses and repeats nothing, and the
// commits end where the acks did.
func TestConsumeFaults(t *testing.T) {
	t.Parallel() // waits for commit intervals and kgo's retries
	k, c := startKafka(t)
	createTopic(t, c, "flaky", 2, nil)
	const n = 2000
	cl := k.Cluster()
	fetchFaults := cl.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.NotLeaderForPartition, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.UnknownServerError, Count: 3},
	)
	commitFaults := cl.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.UnknownServerError, Count: 2})
	// Every other fetch loses its connection, three times in all.
	dropped := dropConnections(cl, kmsg.Fetch, 2, 3)

	var logs logLines
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"flaky"}, Group: "g", Prefetch: 100, Logf: logs.add})
	// Records come in batches while the consumer reads, so it fetches
	// many times, through the faults.
	w := writer(t, c)
	go func() {
		for range 10 {
			produce(t, w, "flaky", map[int32]int{0: n / 20, 1: n / 20})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	next := map[int32]int64{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for read := 0; read < n; read++ {
		d, err := cons.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v\nlogs:\n%s", read, err, &logs)
		}
		if d.Kafka.Offset != next[d.Kafka.Partition] {
			t.Fatalf("read %d@%d, want offset %d", d.Kafka.Partition, d.Kafka.Offset, next[d.Kafka.Partition])
		}
		next[d.Kafka.Partition]++
		// Everything but the last 10 of partition 1 is handled.
		if d.Kafka.Partition == 0 || d.Kafka.Offset < n/2-10 {
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if read == n/2 {
			// Let a periodic commit meet the commit faults.
			time.Sleep(2 * commitInterval)
		}
	}
	if err := cons.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := map[int32]int64{0: n / 2, 1: n/2 - 10}
	if got := committed(t, c, "g", "flaky"); !maps.Equal(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}
	if fetchFaults.Hits() != 5 || commitFaults.Hits() != 2 {
		t.Errorf("faults hit %d fetches and %d commits, want 5 and 2", fetchFaults.Hits(), commitFaults.Hits())
	}
	if n := dropped(); n != 3 {
		t.Errorf("dropped %d connections, want 3", n)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no warning logged:\n%s", &logs)
	}
	t.Logf("warnings:\n%s", &logs)
}

// TestConsumeBrokerRestart stops the broker under a group member and
// starts it again with the same data on the same port: Next waits, warns
// and then goes on where it was, and nothing is lost.
func TestConsumeBrokerRestart(t *testing.T) {
	t.Parallel() // waits for the broker to come back
	port, dir := testenv.ClosedPort(t), t.TempDir()
	start := func() *sandbox.Kafka {
		k, err := sandbox.StartKafka(sandbox.KafkaOptions{Port: port, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := start()
	defer func() { k.Close() }()
	c, err := open(t, broker.Target{URL: k.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, c, "durable", 2, nil)
	produce(t, writer(t, c), "durable", map[int32]int{0: 50, 1: 50})

	var logs logLines
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"durable"}, Group: "g", Logf: logs.add})
	seen := map[string]int{}
	read := func(ctx context.Context, n int) {
		t.Helper()
		for len(seen) < n {
			d, err := cons.Next(ctx)
			if err != nil {
				t.Fatalf("Next after %d records: %v\nlogs:\n%s", len(seen), err, &logs)
			}
			seen[fmt.Sprintf("%d@%d", d.Kafka.Partition, d.Kafka.Offset)]++
			if err := d.Ack(ctx); err != nil && !errors.Is(err, broker.ErrStaleDelivery) {
				t.Fatalf("Ack: %v", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	read(ctx, 100)
	waitCommitted(t, c, "g", "durable", 0, 50)
	waitCommitted(t, c, "g", "durable", 1, 50)

	k.Close()
	down, downCancel := context.WithTimeout(ctx, 2*time.Second)
	if d, err := cons.Next(down); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with the broker down = %v, %v; want to wait until the deadline", d, err)
	}
	downCancel()
	if !strings.Contains(logs.String(), "cannot connect to kafka broker 127.0.0.1:") {
		t.Errorf("no warning about the broker being down:\n%s", &logs)
	}

	k = start()
	produce(t, writer(t, c), "durable", map[int32]int{0: 25, 1: 25})
	read(ctx, 150)
	if err := cons.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for pos, n := range seen {
		if n > 1 {
			t.Logf("%s read %d times", pos, n)
		}
	}
	want := map[int32]int64{0: 75, 1: 75}
	if got := committed(t, c, "g", "durable"); !maps.Equal(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}
	t.Logf("warnings:\n%s", &logs)
}

// TestConsumeFinalErrors checks the errors Next gives up on: a topic
// deleted under it and permission taken away.
func TestConsumeFinalErrors(t *testing.T) {
	t.Parallel() // kgo notices a deletion at its next metadata refresh
	for _, tc := range []struct {
		name  string
		group string
		do    func(*sandbox.Kafka, *Conn) error
		kind  mqerr.Kind
		text  string
	}{
		{"deleted", "", func(_ *sandbox.Kafka, c *Conn) error {
			resp, err := c.Admin().DeleteTopic(context.Background(), "doomed")
			if err == nil {
				err = resp.Err
			}
			return err
		}, mqerr.NotFound, `topic "doomed" was deleted from kafka at 127.0.0.1:`},
		{"deleted under a group", "g", func(_ *sandbox.Kafka, c *Conn) error {
			resp, err := c.Admin().DeleteTopic(context.Background(), "doomed")
			if err == nil {
				err = resp.Err
			}
			return err
		}, mqerr.NotFound, `topic "doomed" was deleted`},
		{"denied", "", func(k *sandbox.Kafka, _ *Conn) error {
			k.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.TopicAuthorizationFailed, Count: -1})
			return nil
		}, mqerr.Auth, `denied reading topic "doomed": TOPIC_AUTHORIZATION_FAILED`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, c := startKafka(t)
			createTopic(t, c, "doomed", 1, nil)
			produce(t, writer(t, c), "doomed", map[int32]int{0: 2})
			cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"doomed"}, Group: tc.group})
			take(t, cons, 2)
			if err := tc.do(k, c); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := cons.Next(ctx)
			if !mqerr.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Next = %v (kind %v), want kind %v containing %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
		})
	}
}

// TestConsumeCloseBrokerGone checks that Close is bounded by the target's
// timeout when the broker is gone, and says its commit failed.
func TestConsumeCloseBrokerGone(t *testing.T) {
	t.Parallel() // waits for the timeout
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	c, err := open(t, broker.Target{URL: k.URL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, c, "gone", 1, nil)
	produce(t, writer(t, c), "gone", map[int32]int{0: 3})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"gone"}, Group: "g"})
	for _, d := range take(t, cons, 3) {
		if err := d.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	k.Close()
	start := time.Now()
	err = cons.Close()
	if elapsed := time.Since(start); elapsed > testenv.Deadline(time.Second) {
		t.Errorf("Close took %v with a 1s timeout", elapsed)
	}
	if !mqerr.Is(err, mqerr.Unreachable) || !strings.HasPrefix(err.Error(), `committing the offsets of group "g" at close: cannot reach kafka at 127.0.0.1:`) {
		t.Errorf("Close = %v (kind %v), want Unreachable naming the broker", err, mqerr.KindOf(err))
	}
}

// BenchmarkConsume reads b.N 100-byte records from a 4-partition kfake
// topic and writes their values to a buffered io.Discard, as raw output
// does. The kgo case is a minimal franz-go poll loop, for comparison; the
// mqctl cases ack every record once the records fetched so far were
// written, as `mqctl consume` does (without a group that commits nothing
// but lets the deliveries' memory be reused).
func BenchmarkConsume(b *testing.B) {
	_, c := startKafka(b)
	w := writer(b, c)
	runs := 0
	// fill creates a fresh topic holding b.N records.
	fill := func(b *testing.B) string {
		runs++
		topic := fmt.Sprintf("bench-%d", runs)
		createTopic(b, c, topic, 4, nil)
		value := bytes.Repeat([]byte("x"), 100)
		rs := make([]*kgo.Record, b.N)
		for i := range rs {
			rs[i] = &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: value}
		}
		if err := w.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return topic
	}
	b.Run("kgo", func(b *testing.B) {
		topic := fill(b)
		out := bufio.NewWriter(io.Discard)
		b.ReportAllocs()
		b.ResetTimer()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		for read := 0; read < b.N; {
			fs := cl.PollFetches(context.Background())
			fs.EachRecord(func(r *kgo.Record) {
				out.Write(r.Value)
				out.WriteByte('\n')
				read++
			})
		}
		out.Flush()
	})
	for _, group := range []string{"", "bench"} {
		name := "mqctl"
		if group != "" {
			name = "mqctl-group"
		}
		b.Run(name, func(b *testing.B) {
			topic := fill(b)
			out := bufio.NewWriter(io.Discard)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cons := newConsumer(b, c, broker.ConsumerOptions{Sources: []string{topic}, Group: group})
			var pending []*broker.Delivery
			for range b.N {
				d, err := cons.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				out.Write(d.Value)
				out.WriteByte('\n')
				pending = append(pending, d)
				if cons.Buffered() == 0 {
					out.Flush()
					for _, d := range pending {
						d.Ack(ctx)
					}
					pending = pending[:0]
				}
			}
			out.Flush()
			if err := cons.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestConsumeReusesSlabs reads many small polls, settling each before the
// next as `mqctl consume` does: the deliveries' memory is reused, a reused
// delivery carries only its own record, and one left unsettled is kept
// intact.
func TestConsumeReusesSlabs(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "reuse", 1, nil)
	const n = 300
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: "reuse", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		// Every third: a reused delivery meets records with and
		// without headers.
		if i%3 == 0 {
			rs[i].Headers = []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}, {Key: "h", Value: []byte{0xff}}}
		}
	}
	if err := writer(t, c).ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	check := func(d *broker.Delivery) {
		t.Helper()
		r := rs[d.Kafka.Offset]
		if !bytes.Equal(d.Key, r.Key) || !bytes.Equal(d.Value, r.Value) || messageHeaderString(d.Headers) != headerString(r.Headers) {
			t.Fatalf("offset %d: key %q value %q headers %s; want %q %q %s",
				d.Kafka.Offset, d.Key, d.Value, messageHeaderString(d.Headers), r.Key, r.Value, headerString(r.Headers))
		}
	}

	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"reuse"}, Group: "g", Prefetch: 16, UntilEnd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	slabs := map[*slab]bool{}
	var kept *broker.Delivery
	var batch []*broker.Delivery
	for read := 0; ; {
		d, err := cons.Next(ctx)
		if errors.Is(err, io.EOF) {
			if read != n {
				t.Fatalf("io.EOF after %d records", read)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		read++
		check(d)
		slabs[d.Settler.(*delivery).slab] = true
		batch = append(batch, d)
		if cons.Buffered() > 0 {
			continue
		}
		for _, d := range batch {
			if d.Kafka.Offset == 20 {
				kept = d // never settled
				continue
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		batch = batch[:0]
	}
	check(kept)
	if len(slabs) > maxFree+2 {
		t.Errorf("%d polls used %d slabs, want at most %d", n/16, len(slabs), maxFree+2)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "g", "reuse")[0]; got != 20 {
		t.Errorf("committed %d, want 20: the unsettled record", got)
	}
}

// TestCloseRetriesCommits: the commit at Close is the last one, so a
// retriable refusal (COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT) or the
// broker closing its connection is tried again rather than failing the run
// and leaving handled records to be read again. kgo resends a request
// whose connection closed, but not when it was the first request on a new
// connection (its guess is a missing SASL login), so two closes in a row
// reached Close as a failed commit.
func TestCloseRetriesCommits(t *testing.T) {
	codes := []int16{kerr.CoordinatorNotAvailable.Code, kerr.RequestTimedOut.Code}
	for _, tc := range []struct {
		name string
		// fault answers the nth commit of Close (0 before Close).
		fault func(req kmsg.Request, n int32) (kmsg.Response, error)
		// times is how many of Close's commits fail.
		times int32
	}{
		{"retriable refusal", func(req kmsg.Request, n int32) (kmsg.Response, error) {
			return testenv.KafkaCommitError(req, codes[max(0, n-1)%int32(len(codes))]), nil
		}, 2},
		{"dropped connection", func(kmsg.Request, int32) (kmsg.Response, error) {
			return nil, errors.New("connection dropped by the test")
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, c := startKafka(t)
			createTopic(t, c, "jobs", 1, nil)
			produce(t, writer(t, c), "jobs", map[int32]int{0: 5})
			cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"jobs"}, Group: "g"})
			ds := take(t, cons, 5)

			// Fail every commit from here on, until Close's own commit
			// failed tc.times times (the commit loop's failures before
			// Close count not).
			var closing atomic.Bool
			var atClose atomic.Int32
			k.Cluster().ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
				k.Cluster().KeepControl()
				n := int32(0)
				if closing.Load() {
					if n = atClose.Add(1); n > tc.times {
						return nil, nil, false
					}
				}
				resp, err := tc.fault(req, n)
				return resp, err, true
			})
			for _, d := range ds {
				if err := d.Settler.Settle(context.Background(), broker.Settlement{Verb: broker.Ack}); err != nil {
					t.Fatal(err)
				}
			}
			closing.Store(true)
			if err := cons.Close(); err != nil {
				t.Fatalf("Close after its commit failed %d times: %v", tc.times, err)
			}
			if n := atClose.Load(); n < tc.times {
				t.Fatalf("Close's commit failed %d times, want %d: the test did not test", n, tc.times)
			}
			if got := committed(t, c, "g", "jobs")[0]; got != 5 {
				t.Fatalf("committed %d, want 5", got)
			}
		})
	}
}

// TestRevokeRetriesDroppedCommit: the commit made when a rebalance takes
// partitions away is the last chance to record what was handled on them,
// so a connection the broker closed under it is tried again, as at Close.
// Otherwise the next owner reads the handled records again.
//
// a's periodic commits are stopped, so every commit request the broker
// sees is the revoke's: one that took the drops cannot stand in for it,
// and the records handled reach the broker only if the revoke's commit is
// sent again after the drops.
func TestRevokeRetriesDroppedCommit(t *testing.T) {
	const drops = 3
	k, c := startKafka(t)
	createTopic(t, c, "reb", 4, nil)
	produce(t, writer(t, c), "reb", map[int32]int{0: 4, 1: 4, 2: 4, 3: 4})

	// The first drops commit requests lose their connection, the later
	// ones go through. One drop is not enough: kgo resends a request once
	// itself, unless it was the first on a new connection.
	type request struct {
		member     string
		generation int32
		dropped    bool
	}
	var (
		mu       sync.Mutex
		requests []request
	)
	k.Cluster().ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		r := req.(*kmsg.OffsetCommitRequest)
		mu.Lock()
		defer mu.Unlock()
		drop := len(requests) < drops
		requests = append(requests, request{r.MemberID, r.Generation, drop})
		if drop {
			return nil, errors.New("connection dropped by the test"), true
		}
		return nil, nil, false
	})

	var logs logLines
	a := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"reb"}, Group: "g", Logf: logs.add})
	ra := a.(*reader)
	ra.stopLoop()
	<-ra.loopDone
	// a handles offsets 0 and 1 of every partition and leaves the rest.
	for _, d := range take(t, a, 16) {
		if d.Kafka.Offset < 2 {
			if err := d.Ack(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	if len(requests) > 0 {
		t.Fatalf("a committed before the rebalance: %+v", requests)
	}
	mu.Unlock()

	b := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"reb"}, Group: "g"})
	waitBalanced(t, c, "g", 2)

	// Every partition is committed where a's handling ended, read back
	// with a kadm client of the test's own: all by the commit at the
	// revoke, the only one a makes.
	adm := kadm.NewClient(writer(t, c))
	want := map[int32]int64{0: 2, 1: 2, 2: 2, 3: 2}
	deadline := time.Now().Add(5 * commitInterval)
	for {
		resp, err := adm.FetchOffsets(context.Background(), "g")
		if err != nil {
			t.Fatal(err)
		}
		got := map[int32]int64{}
		resp.Each(func(o kadm.OffsetResponse) { got[o.Partition] = o.At })
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("committed %v, want %v: a's handled records are read again; commit requests %+v; a logged:\n%s", got, want, requests, &logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The drops, then the request that went through: all a's, all of
	// the revoke's generation.
	mu.Lock()
	seen := slices.Clone(requests)
	mu.Unlock()
	if len(seen) <= drops || seen[drops].dropped {
		t.Fatalf("commit requests %+v: want %d dropped, then one through", seen, drops)
	}
	for _, r := range seen[:drops+1] {
		if r.member != seen[0].member || r.generation != seen[0].generation {
			t.Fatalf("commit requests %+v: not all the revoke's of one member", seen)
		}
	}
	// b starts where a's handling ended.
	for _, d := range take(t, b, 4) {
		if d.Kafka.Offset < 2 {
			t.Errorf("b read %d@%d, which a handled", d.Kafka.Partition, d.Kafka.Offset)
		}
	}
}

// A consume that ends at once (an empty topic with UntilEnd) closes
// while kgo may still be connecting: the attempt Close cancels is no
// broker trouble and must not be warned about. Repeated, as the close
// does not always catch a connection attempt.
func TestConsumeEndingAtOnceDoesNotWarn(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "empty", 1, nil)
	for i := range 20 {
		for _, group := range []string{"", "g"} {
			var logs logLines
			cons, err := c.NewConsumer(context.Background(), broker.ConsumerOptions{Sources: []string{"empty"}, Group: group, UntilEnd: true, Logf: logs.add})
			if err != nil {
				t.Fatal(err)
			}
			if d, err := cons.Next(context.Background()); !errors.Is(err, io.EOF) {
				t.Fatalf("Next on an empty topic = %v, %v; want io.EOF", d, err)
			}
			if err := cons.Close(); err != nil {
				t.Fatal(err)
			}
			if s := logs.String(); s != "" {
				t.Fatalf("run %d, group %q warned: %s", i, group, s)
			}
		}
	}
}

// TestConsumePauseFetch: once PauseFetch was called for a record of
// partition 0, Next returns no record of it beyond those of the poll it
// came in, while partition 1's keep coming; after the resume partition 0
// goes on from where it stopped, in order, and the group commits both.
// SettleNote says a consumer without a group commits nothing.
func TestConsumePauseFetch(t *testing.T) {
	_, c := startKafka(t)
	createTopic(t, c, "slow", 2, nil)
	w := writer(t, c)
	produce(t, w, "slow", map[int32]int{0: 50})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"slow"}, Group: "g", Prefetch: 5})
	if note := cons.(broker.SettleNoter).SettleNote(); note != "" {
		t.Errorf("SettleNote() = %q with a group, want none", note)
	}
	if note := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{"slow"}}).(broker.SettleNoter).SettleNote(); note != "nothing committed (no --group)" {
		t.Errorf("SettleNote() = %q without a group", note)
	}
	settle := func(ds ...*broker.Delivery) {
		for _, d := range ds {
			if err := d.Settler.Settle(context.Background(), broker.Settlement{Verb: broker.Ack}); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := take(t, cons, 1)[0]
	if first.Kafka.Partition != 0 || first.Kafka.Offset != 0 {
		t.Fatalf("first record %s, want slow[0]@0", first.Where())
	}
	resume := cons.(broker.FetchPauser).PauseFetch(first)
	held := cons.Buffered()
	settle(first)
	next := int64(1)
	produce(t, w, "slow", map[int32]int{1: 10})
	for p1 := 0; p1 < 10; {
		d := take(t, cons, 1)[0]
		switch {
		case d.Kafka.Partition == 1:
			p1++
		case d.Kafka.Offset != next || next > int64(held):
			t.Fatalf("%s while partition 0 is paused: want offsets 1 to %d alone, those of the poll before the pause", d.Where(), held)
		default:
			next++
		}
		settle(d)
	}
	resume()
	resume() // once counts
	for next < 50 {
		d := take(t, cons, 1)[0]
		if d.Kafka.Partition != 0 || d.Kafka.Offset != next {
			t.Fatalf("%s after the resume, want slow[0]@%d", d.Where(), next)
		}
		next++
		settle(d)
	}
	waitCommitted(t, c, "g", "slow", 0, 50)
	waitCommitted(t, c, "g", "slow", 1, 10)
}
