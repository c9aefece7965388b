package kafka

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestConsumeLoadRetryFindsMovedLeader moves a partition again while the
// group member validates its offset at the leader it was just told about.
// That check fails (NOT_LEADER_FOR_PARTITION) and kgo retries it a second
// later, asking for fresh metadata only when its last metadata is older
// than MetadataMinAge. With kgo's 5 s default the retries kept going to
// the old leader and the partition stalled for up to 5 s; the retry must
// find the new leader. The test orders requests, it does not time them:
// kgo's one-second retry is the clock.
func TestConsumeLoadRetryFindsMovedLeader(t *testing.T) {
	t.Parallel() // waits for kgo's one-second load retry
	k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: 3})
	c, err := open(t, broker.Target{URL: k.URL})
	if err != nil {
		t.Fatal(err)
	}
	const topic = "moving"
	createTopic(t, c, topic, 1, nil)
	w := writer(t, c)
	produce(t, w, topic, map[int32]int{0: 10})
	cons := newConsumer(t, c, broker.ConsumerOptions{Sources: []string{topic}, Group: "g"})
	// Consumed records make kgo validate its offset (OffsetForLeaderEpoch)
	// at every new leader.
	take(t, cons, 10)

	cl := k.Cluster()
	brokers, err := c.Admin().ListBrokers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var others []int32
	for _, n := range brokers.NodeIDs() {
		if n != cl.LeaderFor(topic, 0) {
			others = append(others, n)
		}
	}
	first, second := others[0], others[1]
	var mu sync.Mutex
	var loads []int32 // the brokers the offset checks went to
	cl.ControlKey(int16(kmsg.OffsetForLeaderEpoch), func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		loads = append(loads, cl.CurrentNode())
		if len(loads) == 1 {
			// Moved on before this broker answers: it answers
			// NOT_LEADER_FOR_PARTITION, without a new leader.
			if err := cl.MoveTopicPartition(topic, 0, second); err != nil {
				t.Error(err)
			}
		}
		return nil, nil, false
	})
	if err := cl.MoveTopicPartition(topic, 0, first); err != nil {
		t.Fatal(err)
	}
	// New records wake the member's fetch at the old leader, which
	// answers NOT_LEADER_FOR_PARTITION naming first.
	produce(t, w, topic, map[int32]int{0: 10})
	if got, want := positions(take(t, cons, 10)), span(0, 10, 20); !slices.Equal(got, want) {
		t.Errorf("after the moves read %v, want %v", got, want)
	}

	mu.Lock()
	defer mu.Unlock()
	switch {
	case len(loads) < 2 || loads[0] != first:
		t.Fatalf("offset checks went to brokers %v; the scenario needs the first at broker %d (moved away meanwhile) and a retry", loads, first)
	case loads[1] != second:
		t.Errorf("offset checks went to brokers %v: the retry after NOT_LEADER_FOR_PARTITION went to broker %d again, not to the leader %d (stale metadata: MetadataMinAge too long)", loads, loads[1], second)
	}
}

// TestMetadataRequestsBoundedWithBrokerDown keeps the leader of one
// partition unreachable while a producer writes to every partition. Each
// failed request makes kgo ask for metadata again, but at most once per
// MetadataMinAge per client: a lower min age must not turn a dead broker
// into a flood of metadata requests. The test counts requests against a
// ceiling, which a slow machine only makes easier to stay under.
func TestMetadataRequestsBoundedWithBrokerDown(t *testing.T) {
	t.Parallel() // the broker stays down for window
	const (
		window = 5 * time.Second
		// Clients: the Conn's and the producer's. Each may ask twice a
		// second (one per 500 ms), and once more when the window
		// starts mid-wait.
		clients, perSecond = 2, 2
		ceiling            = clients * (perSecond*int64(window/time.Second) + 1)
	)
	k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: 3})
	c, err := open(t, broker.Target{URL: k.URL})
	if err != nil {
		t.Fatal(err)
	}
	const topic = "down"
	createTopic(t, c, topic, 4, nil)
	cl := k.Cluster()
	dead := cl.LeaderFor(topic, 0)
	var down atomic.Bool
	var metadata, refused atomic.Int64
	cl.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		metadata.Add(1)
		return nil, nil, false
	})
	cl.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() || cl.CurrentNode() != dead {
			return nil, nil, false
		}
		cl.KeepControl()
		refused.Add(1)
		return nil, errors.New("broker down"), true
	})

	p := newProducer(t, c, broker.ProducerOptions{Destination: topic})
	var confirmed [4]atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for part := range int32(4) {
				p.Publish(ctx, &broker.Message{Value: []byte("x"), Kafka: broker.KafkaMeta{Partition: part}}, func(_ broker.Receipt, err error) {
					if err == nil {
						confirmed[part].Add(1)
					}
				})
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if confirmed[0].Load() > 0 && confirmed[1].Load() > 0 && confirmed[2].Load() > 0 && confirmed[3].Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message confirmed on every partition in 10 s")
		}
	}

	metadata.Store(0)
	down.Store(true)
	time.Sleep(window)
	asked := metadata.Load()
	down.Store(false)
	t.Logf("broker %d down for %s: %d metadata requests, %d requests refused", dead, window, asked, refused.Load())
	switch {
	case refused.Load() == 0 || asked == 0:
		t.Fatalf("the scenario needs requests to the dead broker (%d) and metadata refreshes (%d)", refused.Load(), asked)
	case asked > ceiling:
		t.Errorf("%d metadata requests in %s with a broker down, want at most %d (%d clients, %d a second each)", asked, window, ceiling, clients, perSecond)
	}
}
