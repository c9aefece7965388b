package sandbox

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Demo topics on Kafka. "billing" consumes orders and falls behind; "audit"
// keeps up. orders.DLT holds Spring-style dead letters of orders.
const (
	demoOrdersTopic   = "orders"
	demoPaymentsTopic = "payments"
	demoOrdersDLT     = "orders.DLT"
	demoLaggingGroup  = "billing"
	demoCurrentGroup  = "audit"
)

type kafkaSeeder struct {
	cl  *kgo.Client
	adm *kadm.Client
	n   int
	// billing remembers the lagging group's commits: a real consumer's
	// offsets only move forward, and a demo that rewinds would show REWIND.
	billing map[int32]int64
}

func newKafkaSeeder(url string) (*kafkaSeeder, error) {
	seeds := strings.Split(strings.TrimPrefix(url, "kafka://"), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(demoOrdersTopic))
	if err != nil {
		return nil, fmt.Errorf("demo kafka: %w", err)
	}
	return &kafkaSeeder{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (k *kafkaSeeder) name() string { return "kafka" }
func (k *kafkaSeeder) close()       { k.cl.Close() }

func (k *kafkaSeeder) seed(ctx context.Context) error {
	for topic, parts := range map[string]int32{demoOrdersTopic: 4, demoPaymentsTopic: 2, demoOrdersDLT: 1} {
		resp, err := k.adm.CreateTopic(ctx, parts, 1, nil, topic)
		if err != nil && !strings.Contains(fmt.Sprint(err, resp.Err), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	var recs []*kgo.Record
	for i := 1; i <= 200; i++ {
		recs = append(recs,
			&kgo.Record{Topic: demoOrdersTopic, Key: fmt.Appendf(nil, "customer-%d", i%17), Value: demoOrder(i),
				Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("demo")}}},
			&kgo.Record{Topic: demoPaymentsTopic, Key: fmt.Appendf(nil, "order-%d", i), Value: fmt.Appendf(nil, `{"order_id":%d,"status":"captured"}`, i)})
	}
	reasons := []string{"Listener failed; nested exception is java.lang.IllegalStateException: SKU not found", "Listener failed; nested exception is org.springframework.messaging.converter.MessageConversionException: Cannot convert from [[B] to [Order]"}
	for i := 0; i < 12; i++ {
		recs = append(recs, &kgo.Record{
			Topic: demoOrdersDLT, Key: fmt.Appendf(nil, "customer-%d", i), Value: demoOrder(1000 + i),
			Headers: springDLTHeaders(demoOrdersTopic, int32(i%4), int64(i*3), time.Now().Add(-time.Duration(12-i)*time.Hour), reasons[i%2]),
		})
	}
	if err := k.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return k.commitBehind(ctx, 150)
}

// springDLTHeaders builds the headers Spring Kafka's DeadLetterPublishingRecoverer
// writes: partition as a 4-byte and offset/timestamp as 8-byte big-endian numbers.
func springDLTHeaders(topic string, partition int32, offset int64, ts time.Time, reason string) []kgo.RecordHeader {
	p := binary.BigEndian.AppendUint32(nil, uint32(partition))
	o := binary.BigEndian.AppendUint64(nil, uint64(offset))
	t := binary.BigEndian.AppendUint64(nil, uint64(ts.UnixMilli()))
	return []kgo.RecordHeader{
		{Key: "kafka_dlt-original-topic", Value: []byte(topic)},
		{Key: "kafka_dlt-original-partition", Value: p},
		{Key: "kafka_dlt-original-offset", Value: o},
		{Key: "kafka_dlt-original-timestamp", Value: t},
		{Key: "kafka_dlt-original-timestamp-type", Value: []byte("CreateTime")},
		{Key: "kafka_dlt-exception-fqcn", Value: []byte("org.springframework.kafka.listener.ListenerExecutionFailedException")},
		{Key: "kafka_dlt-exception-message", Value: []byte(reason)},
	}
}

// commitBehind commits "audit" at the end of orders and "billing" lag
// records behind it, spread over the partitions.
func (k *kafkaSeeder) commitBehind(ctx context.Context, lag int64) error {
	ends, err := k.adm.ListEndOffsets(ctx, demoOrdersTopic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	current, behind := kadm.Offsets{}, kadm.Offsets{}
	var parts int64
	ends.Each(func(o kadm.ListedOffset) { parts++ })
	if k.billing == nil {
		k.billing = map[int32]int64{}
	}
	ends.Each(func(o kadm.ListedOffset) {
		current.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		at := max(k.billing[o.Partition], o.Offset-lag/parts, 0)
		k.billing[o.Partition] = at
		behind.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at, LeaderEpoch: -1})
	})
	if err := k.adm.CommitAllOffsets(ctx, demoCurrentGroup, current); err != nil {
		return fmt.Errorf("commit %s: %w", demoCurrentGroup, err)
	}
	if err := k.adm.CommitAllOffsets(ctx, demoLaggingGroup, behind); err != nil {
		return fmt.Errorf("commit %s: %w", demoLaggingGroup, err)
	}
	return nil
}

func (k *kafkaSeeder) tick(ctx context.Context, n int) error {
	k.n++
	i := 200 + k.n
	err := k.cl.ProduceSync(ctx,
		&kgo.Record{Topic: demoOrdersTopic, Key: fmt.Appendf(nil, "customer-%d", i%17), Value: demoOrder(i)},
		&kgo.Record{Topic: demoPaymentsTopic, Key: fmt.Appendf(nil, "order-%d", i), Value: fmt.Appendf(nil, `{"order_id":%d,"status":"captured"}`, i)},
	).FirstErr()
	if err != nil {
		return err
	}
	// billing commits at half the produce rate: a lag that keeps growing.
	return k.commitBehind(ctx, 150+int64(k.n/2))
}
