package source

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
	"github.com/mqctl/mqctl/internal/tui"
)

// drive runs msg through m and every command it leads to, as the program
// would, but the ticks (which wait): enough for a read to land.
func drive(m *tui.Model, msg tea.Msg) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg, queue = queue[0], queue[1:]
		_, cmd := m.Update(msg)
		var run func(tea.Cmd)
		run = func(c tea.Cmd) {
			if c == nil {
				return
			}
			done := make(chan tea.Msg, 1)
			go func() { done <- c() }()
			select {
			case out := <-done:
				switch out := out.(type) {
				case tea.BatchMsg:
					for _, c := range out {
						run(c)
					}
				case nil:
				default:
					queue = append(queue, out)
				}
			case <-time.After(50 * time.Millisecond): // a tick: left waiting
			}
		}
		run(cmd)
	}
}

// On JetStream the read that asks gets each lagging consumer's time lag
// from the driver (the age of its next message, as lag --time-lag), the
// reads between do not ask, and top shows the age carried forward.
func TestTimeLagJetStream(t *testing.T) {
	ctx := context.Background()
	srv, js := natsJetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "orders.created", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.CreateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "processor", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	time.Sleep(1100 * time.Millisecond) // the next message is a second old

	s := &Brokers{Targets: []broker.Target{{Context: "js", URL: srv.URL, Timeout: 5 * time.Second}}, TimeLagEvery: time.Hour}
	defer s.Close()
	for i, asks := range []bool{true, false} {
		snap, err := s.Read(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Lag) != 1 || snap.Lag[0].Lag != 3 {
			t.Fatalf("read %d: lag rows %+v", i, snap.Lag)
		}
		if tl := snap.Lag[0].TimeLag; snap.TimeLag != asks || asks != (tl >= time.Second && tl <= time.Since(written)+time.Second) {
			t.Fatalf("read %d: asked %v, time lag %v; want asked %v", i, snap.TimeLag, tl, asks)
		}
	}

	// Through the dashboard: a new source asks on its first read, and the
	// second shows that age carried (no "≤": the consumer did not move).
	s2 := &Brokers{Targets: s.Targets, TimeLagEvery: time.Hour}
	defer s2.Close()
	m := tui.New(s2, tui.Options{Interval: time.Hour})
	drive(m, tea.WindowSizeMsg{Width: 100, Height: 12})
	drive(m, m.Init()())
	drive(m, tea.KeyPressMsg{Code: '3', Text: "3"})
	drive(m, tea.KeyPressMsg{Code: 'r', Text: "r"})
	row := ""
	for _, l := range strings.Split(m.Content(), "\n") {
		if strings.Contains(l, "processor") {
			row = l
		}
	}
	f := strings.Fields(row)
	if len(f) < 7 || f[4] != "3" || !strings.HasSuffix(f[5], "s") || strings.HasPrefix(f[5], "≤") || f[5] == "0s" {
		t.Fatalf("consumers row %q: want lag 3 and a time lag carried from the first read\n%s", row, m.Content())
	}
}

// RabbitMQ's time lag comes with the management API's queue list: asked
// at the same cadence as the others, an empty queue has none.
func TestTimeLagRabbitMQ(t *testing.T) {
	env := testenv.RabbitMQ(t)
	v := newVHost(t, env)
	u, ch := v.url, v.ch
	if _, err := ch.QueueDeclare("jobs", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	s := &Brokers{Targets: []broker.Target{{Context: "rabbit", URL: u, ManagementURL: env.APIURL, Timeout: 10 * time.Second}}}
	defer s.Close()
	for i := range 2 {
		snap, err := s.Read(context.Background(), 0)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		// Asked on the first read, then not again within TimeLagEvery,
		// as on the other brokers; an empty queue has none to show.
		if snap.TimeLag != (i == 0) || len(snap.Lag) != 1 || snap.Lag[0].Queue != "jobs" || snap.Lag[0].TimeLag != 0 {
			t.Fatalf("read %d: asked for time lags %v, rows %+v", i, snap.TimeLag, snap.Lag)
		}
	}
}

// Enter on a Kafka group in the consumers view, against kfake with a live
// member: each partition's committed and end offsets, lag, time lag (the
// first read asked), and the member's client id.
func TestConsumerDetailKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		for range 3 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: int32(p), Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A member that joins, reads one record of partition 0, commits it,
	// and stays in the group.
	member, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("billing-svc"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for committed := false; !committed; {
		fs := member.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if err := member.CommitRecords(ctx, r); err != nil {
				t.Fatal(err)
			}
			committed = true
		})
	}
	time.Sleep(1100 * time.Millisecond) // the next records are a second old

	s := &Brokers{Targets: []broker.Target{{Context: "k", URL: k.URL, Timeout: 10 * time.Second}}}
	defer s.Close()
	m := tui.New(s, tui.Options{Interval: time.Hour})
	drive(m, tea.WindowSizeMsg{Width: 120, Height: 12})
	drive(m, m.Init()())
	drive(m, tea.KeyPressMsg{Code: '3', Text: "3"})
	drive(m, tea.KeyPressMsg{Code: tea.KeyEnter})
	screen := m.Content()
	ls := strings.Split(screen, "\n")
	if ls[0] != "mqctl top · detail · k/billing" || !strings.HasPrefix(ls[1], "group billing: lag 5 on 2 partitions of 1 topic, 1 member") {
		t.Fatalf("detail:\n%s", screen)
	}
	// One partition has the commit (1 of 3 read), the other none; the
	// member owns both.
	var rows []string
	for _, l := range ls[3:] {
		if strings.Contains(l, "orders/") {
			rows = append(rows, strings.Join(strings.Fields(strings.TrimPrefix(l, ">")), " "))
		}
	}
	if len(rows) != 2 {
		t.Fatalf("rows %q\n%s", rows, screen)
	}
	for _, r := range rows {
		f := strings.Fields(r)
		if len(f) < 8 || f[2] != "3" || f[len(f)-1] != "billing-svc" || !strings.HasSuffix(f[4], "s") || f[4] == "0s" {
			t.Errorf("row %q: want end 3, a time lag, the member and its client", r)
		}
		if !(f[1] == "1" && f[3] == "2") && !(f[1] == "-" && f[3] == "3") {
			t.Errorf("row %q: want committed 1 and lag 2, or no commit and lag 3", r)
		}
	}
}
