package kafka

import (
	"context"
	"fmt"
	"slices"
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
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// lagEnv is a kfake cluster, a producing client, an admin and our Conn.
type lagEnv struct {
	k    *sandbox.Kafka
	cl   *kgo.Client
	adm  *kadm.Client
	conn *Conn
}

func newLagEnv(t testing.TB, extra ...kfake.Opt) *lagEnv {
	t.Helper()
	return newLagCluster(t, 1, extra...)
}

// newLagCluster is newLagEnv on a cluster of the given number of brokers.
func newLagCluster(t testing.TB, brokers int, extra ...kfake.Opt) *lagEnv {
	t.Helper()
	k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: brokers, Extra: extra})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	conn, err := driver{}.Open(context.Background(), broker.Target{URL: k.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &lagEnv{k: k, cl: cl, adm: kadm.NewClient(cl), conn: conn.(*Conn)}
}

func (e *lagEnv) lag(t testing.TB, q broker.LagQuery) []lag.Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := e.conn.Lag(ctx, q)
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	return rows
}

// deleteBefore moves a partition's start offset with DeleteRecords.
func (e *lagEnv) deleteBefore(t *testing.T, topic string, p int32, at int64) {
	t.Helper()
	resp, err := e.adm.DeleteRecords(context.Background(), offsets(kadm.Offset{Topic: topic, Partition: p, At: at}))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords %s/%d before %d: %v", topic, p, at, err)
	}
}

// partRow is the row Lag must give for an idle (Empty) group's partition.
func partRow(group, topic string, p int32, committed, end, n int64) lag.Row {
	return lag.Row{Broker: "kafka", Kind: "partition", Group: group, Topic: topic, Partition: p,
		Committed: committed, End: end, Lag: n, State: "Empty"}
}

func TestLagCommittedGroups(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(3, "orders"), kfake.SeedTopics(1, "trimmed"))
	produce(t, e.cl, "orders", map[int32]int{0: 10, 1: 20, 2: 30})
	produce(t, e.cl, "trimmed", map[int32]int{0: 20})
	e.deleteBefore(t, "trimmed", 0, 12)

	commit(t, e.adm, "billing",
		kadm.Offset{Topic: "orders", Partition: 0, At: 4},
		kadm.Offset{Topic: "orders", Partition: 1, At: 15},
		kadm.Offset{Topic: "orders", Partition: 2, At: 30})
	// A commit on one partition of three: the others count from the start,
	// as the group consumes the topic.
	commit(t, e.adm, "partial", kadm.Offset{Topic: "orders", Partition: 1, At: 5})
	// Commits below the new start count from the start (kadm would say
	// 20 - 5 = 15); at or above it, from the commit.
	commit(t, e.adm, "stale", kadm.Offset{Topic: "trimmed", Partition: 0, At: 5})
	commit(t, e.adm, "ontime", kadm.Offset{Topic: "trimmed", Partition: 0, At: 14})
	// A group that joined and left without committing: no rows.
	c := startConsumer(t, e.k, "idle", "idle-client", false)
	waitStable(t, e, "idle")
	c.close()
	if listed, err := e.adm.ListGroups(context.Background()); err != nil || listed["idle"].State != "Empty" {
		t.Fatalf("group idle must exist and be empty for this test: %+v %v", listed, err)
	}

	billing := []lag.Row{
		partRow("billing", "orders", 0, 4, 10, 6),
		partRow("billing", "orders", 1, 15, 20, 5),
		partRow("billing", "orders", 2, 30, 30, 0),
	}
	cases := []struct {
		name  string
		match func(string) bool
		want  []lag.Row
	}{
		{"all groups", nil, append(billing,
			partRow("ontime", "trimmed", 0, 14, 20, 6),
			partRow("partial", "orders", 0, lag.Unknown, 10, 10),
			partRow("partial", "orders", 1, 5, 20, 15),
			partRow("partial", "orders", 2, lag.Unknown, 30, 30),
			partRow("stale", "trimmed", 0, 5, 20, 8),
		)},
		{"match one group", func(g string) bool { return g == "billing" }, billing},
		{"match only the empty group", func(g string) bool { return g == "idle" }, nil},
		{"match nothing", func(string) bool { return false }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := e.lag(t, broker.LagQuery{Match: tc.match})
			assertRows(t, got, tc.want)
		})
	}

	var total int64
	for _, r := range e.lag(t, broker.LagQuery{Match: func(g string) bool { return g == "billing" }}) {
		total += r.Lag
	}
	if total != 11 {
		t.Errorf("billing's total lag is %d, want 11", total)
	}
}

func assertRows(t *testing.T, got, want []lag.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// TestLagManyGroups checks the rows of many more groups than Lag has
// workers, so their spans of the rows interleave (under -race, that they
// do not overlap), in group order, each with its own commits, and that a
// topic deleted while Lag runs gives no rows.
func TestLagManyGroups(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(4, "a"), kfake.SeedTopics(2, "b"), kfake.SeedTopics(3, "doomed"))
	produce(t, e.cl, "a", map[int32]int{0: 10, 1: 11, 2: 12, 3: 13})
	produce(t, e.cl, "b", map[int32]int{0: 5, 1: 6})
	produce(t, e.cl, "doomed", map[int32]int{0: 1})
	const groups = 37
	var want []lag.Row
	for g := range groups {
		name := fmt.Sprintf("g%02d", g)
		at := int64(g % 7)
		var os []kadm.Offset
		for p := range int32(4) {
			os = append(os, kadm.Offset{Topic: "a", Partition: p, At: at})
			want = append(want, partRow(name, "a", p, at, 10+int64(p), 10+int64(p)-at))
		}
		// b: a commit on partition 0 only, partition 1 counts from the start.
		os = append(os, kadm.Offset{Topic: "b", Partition: 0, At: 1}, kadm.Offset{Topic: "doomed", Partition: 0, At: 1})
		want = append(want, partRow(name, "b", 0, 1, 5, 4), partRow(name, "b", 1, lag.Unknown, 6, 6))
		commit(t, e.adm, name, os...)
	}
	// As if doomed were deleted after the groups' commits were fetched:
	// the cluster no longer knows it when its offsets are listed. (A real
	// deletion removes the commits too.)
	e.k.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Topic: "doomed", Err: kerr.UnknownTopicOrPartition, Count: -1})
	assertRows(t, e.lag(t, broker.LagQuery{}), want)
}

// TestLagLiveMember checks member and client ids of a live group, for both
// group protocols, on a topic where one partition has a commit, one has none
// and one has none and a start moved by DeleteRecords.
func TestLagLiveMember(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nextGen bool
	}{
		{"classic", false},
		{"KIP-848", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLagEnv(t, kfake.SeedTopics(3, "orders"))
			produce(t, e.cl, "orders", map[int32]int{0: 10, 1: 20, 2: 30})
			e.deleteBefore(t, "orders", 2, 10)
			// Committed while the group is empty: a broker refuses
			// admin commits to a group with members.
			commit(t, e.adm, "live", kadm.Offset{Topic: "orders", Partition: 0, At: 4})
			c := startConsumer(t, e.k, "live", "worker-1", tc.nextGen)
			rows := waitStable(t, e, "live")
			member, _ := c.cl.GroupMetadata()
			if member == "" {
				t.Fatal("consumer has no member id")
			}
			row := func(p int32, committed, end, n int64) lag.Row {
				return lag.Row{Broker: "kafka", Kind: "partition", Group: "live", Topic: "orders", Partition: p,
					Committed: committed, End: end, Lag: n, Member: member, ClientID: "worker-1", State: "Stable"}
			}
			assertRows(t, rows, []lag.Row{
				row(0, 4, 10, 6),
				row(1, lag.Unknown, 20, 20),
				row(2, lag.Unknown, 30, 20),
			})
		})
	}
}

type consumer struct {
	cl   *kgo.Client
	stop context.CancelFunc
	done sync.WaitGroup
	once sync.Once
}

// startConsumer joins group on topic orders without ever committing, and
// keeps polling until closed (at the latest when t ends).
func startConsumer(t *testing.T, k *sandbox.Kafka, group, clientID string, nextGen bool) *consumer {
	t.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Addrs()...),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(),
	}
	if nextGen {
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cl: cl, stop: cancel}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *consumer) close() {
	c.once.Do(func() {
		c.stop()
		c.done.Wait()
		c.cl.Close()
	})
}

// waitStable polls Lag until group is Stable with every partition of orders
// owned by a member, and returns its rows.
func waitStable(t *testing.T, e *lagEnv, group string) []lag.Row {
	t.Helper()
	match := func(g string) bool { return g == group }
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := e.lag(t, broker.LagQuery{Match: match})
		owned := 0
		for _, r := range rows {
			if r.State == "Stable" && r.Member != "" {
				owned++
			}
		}
		if owned > 0 && owned == len(rows) {
			return rows
		}
		// A group without commits has rows only once it is assigned.
		if time.Now().After(deadline) {
			t.Fatalf("group %s not stable with owned partitions: %+v", group, rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLagTimeLag(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(1, "aged"), kfake.SeedTopics(2, "other"))
	// Record i of "aged" is stamped base + i seconds: an hour ago and on.
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, &kgo.Record{Topic: "aged", Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, e.cl, "other", map[int32]int{0: 3, 1: 3})

	// Several groups at different offsets of one partition: the reader
	// must answer each, seeking between them.
	at := map[string]int64{"g0010": 10, "g0500": 500, "g0501": 501, "g0990": 990, "g1000": 1000}
	for g, o := range at {
		commit(t, e.adm, g, kadm.Offset{Topic: "aged", Partition: 0, At: o})
	}
	// A trimmed partition with a commit below the start: the next record
	// is the first retained one.
	e.deleteBefore(t, "other", 1, 2)
	commit(t, e.adm, "gother", kadm.Offset{Topic: "other", Partition: 0, At: 3}, kadm.Offset{Topic: "other", Partition: 1, At: 0})

	before := time.Now()
	rows := e.lag(t, broker.LagQuery{TimeLag: true})
	after := time.Now()
	if len(rows) != len(at)+2 {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(at)+2, rows)
	}
	for _, r := range rows {
		if r.Topic == "other" {
			if r.Partition == 0 && r.TimeLag != 0 || r.Partition == 1 && (r.TimeLag <= 0 || r.TimeLag > after.Sub(before)+time.Minute) {
				t.Errorf("other/%d: lag %d, time lag %v", r.Partition, r.Lag, r.TimeLag)
			}
			continue
		}
		o := at[r.Group]
		if r.Lag != 1000-o {
			t.Errorf("%s: lag %d, want %d", r.Group, r.Lag, 1000-o)
		}
		if o == 1000 {
			if r.TimeLag != 0 {
				t.Errorf("%s is caught up but has time lag %v", r.Group, r.TimeLag)
			}
			continue
		}
		ts := base.Add(time.Duration(o) * time.Second)
		if lo, hi := before.Sub(ts), after.Sub(ts); r.TimeLag < lo || r.TimeLag > hi {
			t.Errorf("%s: time lag %v, want between %v and %v", r.Group, r.TimeLag, lo, hi)
		}
	}

	for _, r := range e.lag(t, broker.LagQuery{}) {
		if r.TimeLag != 0 {
			t.Errorf("time lag %v without TimeLag asked", r.TimeLag)
		}
	}
}

// markerPartition writes one transactional record and its commit marker to
// partition 0 of topic: offset 0 the record, offset 1 the marker, end 2.
// A group committed at 1 lags by one with no record to read.
func markerPartition(t *testing.T, e *lagEnv, topic string) {
	t.Helper()
	tcl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Addrs()...), kgo.TransactionalID("tx-"+topic), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer tcl.Close()
	ctx := context.Background()
	if err := tcl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tcl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tcl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil || ends[topic][0].Offset != 2 {
		t.Fatalf("want the record and its commit marker, end offset 2: %+v %v", ends, err)
	}
}

// TestLagTimeLagBounded checks that a lagging partition with no record to
// read (only a transaction's end marker past the commit) costs at most the
// time-lag wait, and leaves its time lag unknown.
func TestLagTimeLagBounded(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(1, "txn"))
	markerPartition(t, e, "txn")
	commit(t, e.adm, "done", kadm.Offset{Topic: "txn", Partition: 0, At: 1})

	start := time.Now()
	rows := e.lag(t, broker.LagQuery{TimeLag: true})
	if elapsed := time.Since(start); elapsed > testenv.Deadline(timeLagWait) {
		t.Errorf("Lag took %v, over the time-lag wait %v", elapsed, timeLagWait)
	}
	if len(rows) != 1 || rows[0].Lag != 1 || rows[0].TimeLag != 0 {
		t.Errorf("rows %+v, want lag 1 (the marker) with unknown time lag", rows)
	}
}

// TestLagTimeLagGap reads the time lags of 50 groups on one connection,
// where every group also commits on a partition whose committed offset
// holds only a transaction marker: every other lagging row gets its time
// lag, that partition's rows are unknown, the reads open no client of
// their own (kgo sends ApiVersions on each new connection: at most one,
// the connection for fetches, over all reads) and no fetch waits for
// records the broker does not have (MaxWaitMillis 0).
func TestLagTimeLagGap(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(4, "data"), kfake.SeedTopics(1, "gap"))
	markerPartition(t, e, "gap")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for p := range int32(4) {
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: "data", Partition: p, Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const groups = 50
	for g := range groups {
		os := []kadm.Offset{{Topic: "gap", Partition: 0, At: 1}}
		for p := range int32(4) {
			os = append(os, kadm.Offset{Topic: "data", Partition: p, At: int64((g + int(p)) % 10)})
		}
		commit(t, e.adm, fmt.Sprintf("g%02d", g), os...)
	}

	var mu sync.Mutex
	var apiVersions, fetches int
	var waits []int32
	e.k.Cluster().ControlKey(int16(kmsg.ApiVersions), func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		apiVersions++
		return nil, nil, false // observe only
	})
	e.k.Cluster().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		if w := req.(*kmsg.FetchRequest).MaxWaitMillis; w != 0 {
			waits = append(waits, w)
		}
		return nil, nil, false
	})
	const reads = 3
	var perRead []int // ApiVersions requests (new connections) by read
	for range reads {
		mu.Lock()
		before := apiVersions
		mu.Unlock()
		start := time.Now()
		rows := e.lag(t, broker.LagQuery{TimeLag: true})
		if len(rows) != groups*5 {
			t.Fatalf("got %d rows, want %d", len(rows), groups*5)
		}
		for _, r := range rows {
			switch {
			case r.Topic == "gap" && (r.Lag != 1 || r.TimeLag != 0):
				t.Errorf("%s gap/0: lag %d, time lag %v; want 1 and unknown", r.Group, r.Lag, r.TimeLag)
			case r.Topic == "data" && r.TimeLag < start.Sub(base.Add(time.Duration(r.Committed)*time.Second)):
				t.Errorf("%s data/%d at %d: time lag %v, younger than its record", r.Group, r.Partition, r.Committed, r.TimeLag)
			case r.Topic == "data" && r.TimeLagOf != lag.TimeLagNextRecord:
				t.Errorf("%s data/%d: time lag of %q", r.Group, r.Partition, r.TimeLagOf)
			}
		}
		mu.Lock()
		perRead = append(perRead, apiVersions-before)
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d time-lag reads of %d groups: new connections (ApiVersions) by read %v, %d Fetch requests", reads, groups, perRead, fetches)
	// The first read may connect to the broker by its ID (Open asked a
	// seed) and for fetches; later reads reuse both.
	if perRead[0] > 2 || slices.Max(perRead[1:]) > 0 {
		t.Errorf("new connections by read %v, want at most 2 in the first and none after", perRead)
	}
	if len(waits) > 0 {
		t.Errorf("fetches waited for records: MaxWaitMillis %v", waits)
	}
	// Two rounds a read: the marker partition is dropped in the first
	// (its next offset is the high watermark), each data partition's ten
	// offsets are answered by its first batch.
	if fetches > reads*2 {
		t.Errorf("%d fetches in %d reads, want at most 2 a read", fetches, reads)
	}
}

// TestLagTimeLagLeaders reads time lags on three brokers: each fetch goes
// to its partitions' leader (a fetch sent elsewhere is refused, and the
// row would be unknown), one request per leader.
func TestLagTimeLagLeaders(t *testing.T) {
	e := newLagCluster(t, 3, kfake.SeedTopics(6, "spread"))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for p := range int32(6) {
		for i := range 3 {
			recs = append(recs, &kgo.Record{Topic: "spread", Partition: p, Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var os []kadm.Offset
	for p := range int32(6) {
		os = append(os, kadm.Offset{Topic: "spread", Partition: p, At: 1})
	}
	commit(t, e.adm, "g", os...)
	fetches := e.k.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Observe: true, Count: -1})
	start := time.Now()
	rows := e.lag(t, broker.LagQuery{TimeLag: true})
	if len(rows) != 6 {
		t.Fatalf("got %d rows, want 6", len(rows))
	}
	for _, r := range rows {
		if ts := base.Add(time.Second); r.Lag != 2 || r.TimeLag < start.Sub(ts) {
			t.Errorf("spread/%d: lag %d, time lag %v; want 2 and at least %v", r.Partition, r.Lag, r.TimeLag, start.Sub(ts))
		}
	}
	if n := fetches.Hits(); n > 3 {
		t.Errorf("%d fetches, want at most one per broker", n)
	}
}

// A commit the retention passed since the offsets were listed: the fetch
// says OffsetOutOfRange with the new log start, where the read goes on.
// Set up by hand, as the race with a deletion cannot be timed on a broker.
func TestTimeLagReadAfterRetention(t *testing.T) {
	r := &timeLagRead{offsets: []int64{3}, at: 3}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.ErrorCode, rp.LogStartOffset, rp.HighWatermark = kerr.OffsetOutOfRange.Code, 7, 10
	if stalled := r.advance(topicPartition{"t", 0}, &rp, map[topicPartition]map[int64]time.Time{}); stalled || r.at != 7 {
		t.Errorf("after OffsetOutOfRange from 3 with log start 7: at %d (stalled %v), want 7", r.at, stalled)
	}
	rp.ErrorCode = kerr.NotLeaderForPartition.Code
	if r.advance(topicPartition{"t", 0}, &rp, nil); r.at != -1 {
		t.Errorf("after NotLeaderForPartition: at %d, want -1 (unknown)", r.at)
	}
}

func TestLagErrors(t *testing.T) {
	cases := []struct {
		name  string
		fault kfake.Fault
		match func(string) bool
		kind  mqerr.Kind
		text  string
	}{
		{"describe not authorized",
			kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeGroups}, Group: "secret", Err: kerr.GroupAuthorizationFailed, Count: -1},
			nil, mqerr.Auth, "denied permission"},
		{"offset fetch not authorized",
			kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Group: "secret", Err: kerr.GroupAuthorizationFailed, Count: -1},
			nil, mqerr.Auth, `group "secret"`},
		{"offset fetch fails",
			kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Group: "secret", Err: kerr.UnknownServerError, Count: -1},
			nil, mqerr.Failure, `group "secret"`},
		{"list offsets not authorized",
			kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Topic: "orders", Err: kerr.TopicAuthorizationFailed, Count: -1},
			nil, mqerr.Auth, "denied permission"},
		{"a failing group not matched is not asked",
			kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeGroups, kmsg.OffsetFetch}, Group: "secret", Err: kerr.GroupAuthorizationFailed, Count: -1},
			func(g string) bool { return g != "secret" }, noError, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newLagEnv(t, kfake.SeedTopics(1, "orders"))
			produce(t, e.cl, "orders", map[int32]int{0: 5})
			commit(t, e.adm, "open", kadm.Offset{Topic: "orders", Partition: 0, At: 1})
			commit(t, e.adm, "secret", kadm.Offset{Topic: "orders", Partition: 0, At: 2})
			e.k.Cluster().Fault(tc.fault)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rows, err := e.conn.Lag(ctx, broker.LagQuery{Match: tc.match})
			if tc.kind == noError {
				if err != nil || len(rows) != 1 || rows[0].Group != "open" {
					t.Fatalf("Lag = %+v, %v; want group open only", rows, err)
				}
				return
			}
			if !mqerr.Is(err, tc.kind) {
				t.Fatalf("Lag error = %v (kind %v), want kind %v", err, mqerr.KindOf(err), tc.kind)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.text) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.text)
			}
		})
	}
}

// TestLagRequests checks that the requests Lag sends do not grow with the
// groups and partitions: one of each kind on a single broker.
func TestLagRequests(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(8, "a", "b", "c"))
	for _, topic := range []string{"a", "b", "c"} {
		produce(t, e.cl, topic, map[int32]int{0: 2, 3: 5, 7: 1})
	}
	for g := range 6 {
		var os []kadm.Offset
		for _, topic := range []string{"a", "b", "c"} {
			for p := range int32(8) {
				os = append(os, kadm.Offset{Topic: topic, Partition: p, At: 0})
			}
		}
		commit(t, e.adm, fmt.Sprintf("group-%d", g), os...)
	}
	want := map[kmsg.Key]int{kmsg.ListGroups: 1, kmsg.DescribeGroups: 1, kmsg.OffsetFetch: 1, kmsg.ListOffsets: 2, kmsg.Fetch: 0}
	handles := map[kmsg.Key]*kfake.FaultHandle{}
	for key := range want {
		handles[key] = e.k.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{key}, Observe: true, Count: -1})
	}
	rows := e.lag(t, broker.LagQuery{})
	if len(rows) != 6*3*8 {
		t.Fatalf("got %d rows, want %d", len(rows), 6*3*8)
	}
	for key, n := range want {
		if got := handles[key].Hits(); got != n {
			t.Errorf("%s: %d requests, want %d", kmsg.NameForKey(int16(key)), got, n)
		}
	}
}

func TestLagNoGroups(t *testing.T) {
	e := newLagEnv(t, kfake.SeedTopics(1, "orders"))
	if rows := e.lag(t, broker.LagQuery{TimeLag: true}); len(rows) != 0 {
		t.Fatalf("rows %+v on a cluster without groups", rows)
	}
}

// TestLagBrokerGone checks a cluster going away after Open yields a typed
// error within the caller's deadline.
func TestLagBrokerGone(t *testing.T) {
	c, k := openDoomed(t)
	k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Lag(ctx, broker.LagQuery{})
	if elapsed := time.Since(start); elapsed > testenv.Deadline(0) {
		t.Errorf("Lag took %v after the broker went away", elapsed)
	}
	if !mqerr.Is(err, mqerr.Unreachable) {
		t.Fatalf("Lag error = %v (kind %v), want Unreachable", err, mqerr.KindOf(err))
	}
}

// BenchmarkLag compares Lag with kadm's own Client.Lag (what
// benchmarks/peers/kafkalag runs) on 100 groups committed on all 500
// partitions of 10 topics, timing both in every iteration.
func BenchmarkLag(b *testing.B) {
	const groups, topics, parts = 100, 10, 50
	var names []string
	for i := range topics {
		names = append(names, fmt.Sprintf("topic-%02d", i))
	}
	e := newLagEnv(b, kfake.SeedTopics(parts, names...))
	ctx := context.Background()
	var recs []*kgo.Record
	for _, topic := range names {
		for p := range int32(parts) {
			for range 10 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")})
			}
		}
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for g := range groups {
		var os kadm.Offsets
		for _, topic := range names {
			for p := range int32(parts) {
				os.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(g % 10), LeaderEpoch: -1})
			}
		}
		if err := e.adm.CommitAllOffsets(ctx, fmt.Sprintf("group-%03d", g), os); err != nil {
			b.Fatal(err)
		}
	}

	var ours, theirs time.Duration
	b.ResetTimer()
	for i := range b.N {
		runOurs := func() {
			start := time.Now()
			rows, err := e.conn.Lag(ctx, broker.LagQuery{})
			ours += time.Since(start)
			if err != nil || len(rows) != groups*topics*parts {
				b.Fatalf("Lag: %d rows, %v", len(rows), err)
			}
		}
		runTheirs := func() {
			start := time.Now()
			lags, err := e.adm.Lag(ctx)
			theirs += time.Since(start)
			if err == nil {
				err = lags.Error()
			}
			if err != nil || len(lags) != groups {
				b.Fatalf("kadm Lag: %d groups, %v", len(lags), err)
			}
		}
		// Alternate who goes first, so neither always gets warm caches.
		if i%2 == 0 {
			runOurs()
			runTheirs()
		} else {
			runTheirs()
			runOurs()
		}
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "mqctl-ms/op")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "kadm-ms/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio")
}
