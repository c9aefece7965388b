package offsets_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/testenv"
)

// kafkaEnv is testenv's offsets fixture (topic orders, group billing)
// with the driver's OffsetResetter on it.
type kafkaEnv struct {
	*testenv.OffsetsKafka
	r broker.OffsetResetter
}

func newKafkaEnv(t *testing.T) *kafkaEnv {
	t.Helper()
	e := &kafkaEnv{OffsetsKafka: testenv.NewOffsetsKafka(t)}
	conn, err := broker.Open(context.Background(), broker.Target{URL: e.K.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if e.r, err = broker.As[broker.OffsetResetter](conn, "offsets reset"); err != nil {
		t.Fatal(err)
	}
	return e
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Deadline(10*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// got is a plan's rows as "new/clamp" per partition.
func got(p offsets.Plan) string {
	var b []string
	for _, r := range p.Rows {
		s := fmt.Sprintf("%s:%d=%d", r.Topic, r.Partition, r.New)
		if r.Clamped != "" {
			s += "(" + r.Clamped + ")"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestKafkaPlanEveryTo(t *testing.T) {
	e := newKafkaEnv(t)
	at := func(d time.Duration) offsets.To { return offsets.To{Kind: offsets.AtTime, Time: e.Base.Add(d)} }
	cases := []struct {
		name   string
		to     offsets.To
		topics []offsets.Topic
		want   string
	}{
		{"earliest", offsets.To{Kind: offsets.Earliest}, nil, "orders:0=0 orders:1=0 orders:2=5"},
		{"latest", offsets.To{Kind: offsets.Latest}, nil, "orders:0=10 orders:1=20 orders:2=30"},
		{"offset within and clamped to the high watermark", offsets.To{Kind: offsets.Offset, N: 12}, nil,
			"orders:0=10(high watermark) orders:1=12 orders:2=12"},
		{"offset clamped to the log start", offsets.To{Kind: offsets.Offset, N: 2}, nil,
			"orders:0=2 orders:1=2 orders:2=5(log start)"},
		{"shift back", offsets.To{Kind: offsets.Shift, N: -5}, nil, "orders:0=0(log start) orders:1=10 orders:2=25"},
		{"shift forward", offsets.To{Kind: offsets.Shift, N: 3}, nil, "orders:0=7 orders:1=18 orders:2=30(high watermark)"},
		{"time", at(3 * time.Second), nil, "orders:0=3 orders:1=3 orders:2=5"},
		{"time after every record", at(time.Hour), nil, "orders:0=10 orders:1=20 orders:2=30"},
		{"time before every record", at(-time.Hour), nil, "orders:0=0 orders:1=0 orders:2=5"},
		{"some partitions", offsets.To{Kind: offsets.Earliest}, []offsets.Topic{{Name: "orders", Partitions: []int32{0, 2}}},
			"orders:0=0 orders:2=5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := offsets.MakePlan(ctxFor(t), e.r, offsets.Request{Group: "billing", Topics: tc.topics, To: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			if g := got(p); g != tc.want {
				t.Errorf("plan %s\n got %s\nwant %s", tc.to, g, tc.want)
			}
			for _, r := range p.Rows {
				if r.LagAfter != r.HighWatermark-r.New || r.Current == nil || *r.Change != r.New-*r.Current {
					t.Errorf("row %+v: lag after, current or change do not add up", r)
				}
			}
		})
	}
	// Planning changed nothing.
	if c := e.Committed(t, "billing"); c[0] != 4 || c[1] != 15 || c[2] != 30 {
		t.Errorf("a plan moved the offsets: %v", c)
	}
}

func TestKafkaExecute(t *testing.T) {
	e := newKafkaEnv(t)
	ctx := ctxFor(t)
	p, err := offsets.MakePlan(ctx, e.r, offsets.Request{Group: "billing", To: offsets.To{Kind: offsets.Shift, N: -3},
		Topics: []offsets.Topic{{Name: "orders", Partitions: []int32{1, 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := offsets.Apply(ctx, e.r, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Executed {
		t.Error("Apply did not mark the plan executed")
	}
	if c := e.Committed(t, "billing"); c[0] != 4 || c[1] != 12 || c[2] != 27 {
		t.Errorf("committed after shift=-3 on orders:1,2 = %v, want 0:4 (not selected) 1:12 2:27", c)
	}

	// A new group gets offsets when its topic is named.
	p, err = offsets.MakePlan(ctx, e.r, offsets.Request{Group: "fresh", To: offsets.To{Kind: offsets.Latest}, Topics: []offsets.Topic{{Name: "orders"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Rows {
		if r.Current != nil || r.Change != nil {
			t.Errorf("new group row %+v has a current offset", r)
		}
	}
	if err := offsets.Apply(ctx, e.r, &p); err != nil {
		t.Fatal(err)
	}
	if c := e.Committed(t, "fresh"); c[0] != 10 || c[1] != 20 || c[2] != 30 {
		t.Errorf("fresh group committed %v, want the high watermarks", c)
	}
}

func TestKafkaRefusals(t *testing.T) {
	e := newKafkaEnv(t)
	ctx := ctxFor(t)
	cases := []struct {
		name string
		req  offsets.Request
		kind mqerr.Kind
		text string
	}{
		{"unknown group", offsets.Request{Group: "nobody", To: offsets.To{Kind: offsets.Earliest}}, mqerr.NotFound, "consumer group nobody does not exist"},
		{"unknown topic", offsets.Request{Group: "billing", To: offsets.To{Kind: offsets.Earliest}, Topics: []offsets.Topic{{Name: "nope"}}}, mqerr.NotFound, "topic nope does not exist"},
		{"partition out of range", offsets.Request{Group: "billing", To: offsets.To{Kind: offsets.Earliest}, Topics: []offsets.Topic{{Name: "orders", Partitions: []int32{1, 7}}}}, mqerr.NotFound, "topic orders has no partition 7 (it has 0-2)"},
		{"shift without a commit", offsets.Request{Group: "fresh", To: offsets.To{Kind: offsets.Shift, N: 1}, Topics: []offsets.Topic{{Name: "orders"}}}, mqerr.Usage, "orders partition 0 has no stored offset to shift from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offsets.MakePlan(ctx, e.r, tc.req)
			if !mqerr.Is(err, tc.kind) || err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("MakePlan: %v (kind %v), want kind %v with %q", err, mqerr.KindOf(err), tc.kind, tc.text)
			}
		})
	}
}

func TestKafkaLiveMembersRefused(t *testing.T) {
	e := newKafkaEnv(t)
	ctx := ctxFor(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.K.Addrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The member has joined once the group is Stable with one member.
	deadline := time.Now().Add(testenv.Deadline(10 * time.Second))
	for {
		poll, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		cl.PollFetches(poll)
		cancel()
		d, err := e.Adm.DescribeGroups(ctx, "billing")
		if err == nil && d["billing"].State == "Stable" && len(d["billing"].Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group billing never became stable: %+v %v", d, err)
		}
	}

	p, err := offsets.MakePlan(ctx, e.r, offsets.Request{Group: "billing", To: offsets.To{Kind: offsets.Earliest}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Members != 1 {
		t.Errorf("plan counts %d members, want 1", p.Members)
	}
	err = offsets.Apply(ctx, e.r, &p)
	if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "group billing has 1 live member") {
		t.Errorf("Apply with a live member: %v, want a usage error naming 1 live member", err)
	}
	// The driver checks again at commit time, whatever the plan said.
	err = e.r.ResetOffsets(ctx, "billing", []broker.OffsetCommit{{Topic: "orders", Partition: 0, Offset: 0}})
	if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), "1 live member") {
		t.Errorf("ResetOffsets with a live member: %v", err)
	}
	if c := e.Committed(t, "billing"); c[0] != 4 || c[1] != 15 || c[2] != 30 {
		t.Errorf("a refused reset moved the offsets: %v", c)
	}
}
