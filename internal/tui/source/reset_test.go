package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/testenv"
	"github.com/mqctl/mqctl/internal/tui"
)

// resetKafka is testenv's offsets fixture (topic orders, group billing
// committed at 4, 15 and 30) with group shipping committed at 10, 20 and
// 30.
type resetKafka struct{ *testenv.OffsetsKafka }

func newResetKafka(t *testing.T) *resetKafka {
	t.Helper()
	e := &resetKafka{testenv.NewOffsetsKafka(t)}
	e.Commit(t, "shipping", map[int32]int64{0: 10, 1: 20, 2: 30})
	return e
}

// committed reads group's offsets on orders with kadm, as "0:4 1:15 2:30".
func (e *resetKafka) committed(t *testing.T, group string) string {
	t.Helper()
	at := e.Committed(t, group)
	var out []string
	for p := range int32(3) {
		if o, ok := at[p]; ok {
			out = append(out, fmt.Sprintf("%d:%d", p, o))
		} else {
			out = append(out, fmt.Sprintf("%d:-", p))
		}
	}
	return strings.Join(out, " ")
}

// newResetDriver runs top at 80x24 on s, on the consumers view filtered
// to filter, so the first row is the group to reset.
func newResetDriver(t *testing.T, s *Brokers, readOnly bool, filter string) *topDriver {
	t.Helper()
	d := &topDriver{t: t, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	d.m = tui.New(s, tui.Options{Interval: time.Hour, ReadOnly: readOnly, Audit: audit.Open(d.audit),
		Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.send(d.m.Init()())
	d.keys("3", "/"+filter, "enter")
	if screen := d.screen(); !strings.Contains(screen, "> kfake") && !strings.Contains(screen, "> nats") {
		t.Fatalf("no row selected for %s:\n%s", filter, screen)
	}
	return d
}

var planRow = regexp.MustCompile(`(?m)^  (\S+?)(?:/(\d+))?\s+(-|\d+) → (\d+)\s`)

// shownPlan is what the confirmation says each partition moves to, as
// "0:1 1:12 2:27".
func shownPlan(t *testing.T, screen string) string {
	t.Helper()
	var out []string
	for _, m := range planRow.FindAllStringSubmatch(screen, -1) {
		p := m[2]
		if p == "" {
			p = m[1]
		}
		out = append(out, p+":"+m[4])
	}
	if len(out) == 0 {
		t.Fatalf("no plan rows on screen:\n%s", screen)
	}
	return strings.Join(out, " ")
}

// O on billing's row, through every target: the dialog shows what each
// partition moves to, nothing moves before y, y commits exactly what was
// shown (read back with kadm), Esc leaves everything as it was, the other
// group is never touched, and the audit log has each step.
func TestResetKafka(t *testing.T) {
	e := newResetKafka(t)
	s := &Brokers{Targets: []broker.Target{{Context: "kfake", URL: e.K.URL, Timeout: 10 * time.Second}}}
	defer s.Close()
	d := newResetDriver(t, s, false, "billing")

	d.keys("O")
	if screen := d.screen(); !strings.Contains(screen, "Reset the offsets of group billing on orders (kfake)") || !strings.Contains(screen, "s  shift=N") {
		t.Fatalf("the target dialog:\n%s", screen)
	}
	d.keys("s", "-3", "enter")
	screen := d.screen()
	for _, want := range []string{"to shift=-3:", "orders/0", "4 → 1", "reads 3 again", "15 → 12", "30 → 27",
		"In all: 9 messages read again on 3 partitions; lag after 20.", "y will commit the new offsets for group billing"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, screen)
		}
	}
	plan := shownPlan(t, screen)
	if got := e.committed(t, "billing"); got != "0:4 1:15 2:30" {
		t.Fatalf("before y billing is at %s: the dry run moved it", got)
	}
	d.keys("y")
	if got := e.committed(t, "billing"); got != plan || got != "0:1 1:12 2:27" {
		t.Fatalf("after y billing is at %s, the plan said %s", got, plan)
	}
	if screen := d.screen(); !strings.Contains(screen, "reset group billing on orders to shift=-3: 9 messages read again") {
		t.Fatalf("the status does not say what was done:\n%s", screen)
	}

	// Earliest: partition 2 starts at 5, where it was trimmed.
	d.keys("O", "e")
	plan = shownPlan(t, d.screen())
	d.keys("y")
	if got := e.committed(t, "billing"); got != plan || got != "0:0 1:0 2:5" {
		t.Fatalf("after earliest billing is at %s, the plan said %s", got, plan)
	}

	// A time, planned and then cancelled with Esc.
	at := e.Base.Add(3 * time.Second).UTC().Format(time.RFC3339)
	d.keys("O", "t", at, "enter")
	if got := shownPlan(t, d.screen()); got != "0:3 1:3 2:5" {
		t.Fatalf("plan to %s: %s\n%s", at, got, d.screen())
	}
	d.keys("esc")
	if got := e.committed(t, "billing"); got != "0:0 1:0 2:5" {
		t.Fatalf("after Esc billing is at %s", got)
	}
	if screen := d.screen(); !strings.Contains(screen, "offsets reset cancelled: nothing was changed") {
		t.Fatalf("after Esc:\n%s", screen)
	}

	// Latest: everything not read is skipped.
	d.keys("O", "l")
	if screen := d.screen(); !strings.Contains(screen, "In all: 55 messages skipped unread on 3 partitions; lag after 0.") {
		t.Fatalf("plan to latest:\n%s", screen)
	}
	d.keys("y")
	if got := e.committed(t, "billing"); got != "0:10 1:20 2:30" {
		t.Fatalf("after latest billing is at %s", got)
	}
	if got := e.committed(t, "shipping"); got != "0:10 1:20 2:30" {
		t.Errorf("shipping moved to %s", got)
	}

	rs := d.records("offsets reset")
	if got := events(rs); got != "attempted confirmed finished attempted confirmed finished attempted cancelled attempted confirmed finished" {
		t.Fatalf("audit events %q", got)
	}
	if f := rs[2]; f.Group != "billing" || f.Destination != "orders" || f.To != "shift=-3" || f.Context != "kfake" || f.Broker != "kafka" ||
		f.Result != "ok" || f.Counts["replay"] != 9 || f.Counts["partitions"] != 3 || f.Counts["lag_after"] != 20 || f.ID != rs[0].ID || f.User == "" {
		t.Errorf("finished record %+v", f)
	}
	if c := rs[7]; c.To != at || c.Result != "not confirmed" {
		t.Errorf("cancelled record %+v", c)
	}
}

// A group with a live member is refused after the dry run, naming how
// many; nothing is committed.
func TestResetKafkaLiveMember(t *testing.T) {
	e := newResetKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Deadline(10*time.Second))
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.K.Addrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		poll, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		cl.PollFetches(poll)
		stop()
		g, err := e.Adm.DescribeGroups(ctx, "billing")
		if err == nil && g["billing"].State == "Stable" && len(g["billing"].Members) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group billing never became stable: %+v %v", g, err)
		}
	}
	s := &Brokers{Targets: []broker.Target{{Context: "kfake", URL: e.K.URL, Timeout: 10 * time.Second}}}
	defer s.Close()
	d := newResetDriver(t, s, false, "billing")
	d.keys("O", "e")
	if screen := d.screen(); !strings.Contains(screen, "offsets reset refused: group billing has 1 live member; stop its consumers first") {
		t.Fatalf("no refusal:\n%s", screen)
	}
	if got := e.committed(t, "billing"); got != "0:4 1:15 2:30" {
		t.Fatalf("a refused reset moved billing to %s", got)
	}
	rs := d.records("offsets reset")
	if events(rs) != "attempted refused" || rs[1].Result != "live members" || rs[1].Counts["members"] != 1 {
		t.Fatalf("audit %+v", rs)
	}
}

// --read-only hides and refuses O; a read-only context refuses it in the
// UI (logged) and again below it, in the source.
func TestResetKafkaReadOnly(t *testing.T) {
	e := newResetKafka(t)
	t.Run("flag", func(t *testing.T) {
		s := &Brokers{Targets: []broker.Target{{Context: "kfake", URL: e.K.URL, Timeout: 10 * time.Second}}}
		defer s.Close()
		d := newResetDriver(t, s, true, "billing")
		if strings.Contains(d.screen(), "O reset") {
			t.Fatalf("read-only shows O:\n%s", d.screen())
		}
		d.keys("O")
		if screen := d.screen(); !strings.Contains(screen, "read-only (--read-only): offsets reset is refused") {
			t.Fatalf("no refusal:\n%s", screen)
		}
		d.keys("e", "y")
		if _, err := os.Stat(d.audit); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused reset under --read-only wrote the audit log (%v)", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		s := &Brokers{Targets: []broker.Target{{Context: "kfake", URL: e.K.URL, ReadOnly: true, Timeout: 10 * time.Second}}}
		defer s.Close()
		d := newResetDriver(t, s, false, "billing")
		d.keys("O")
		if screen := d.screen(); !strings.Contains(screen, "context kfake is read-only: offsets reset of group billing on orders refused") {
			t.Fatalf("no refusal:\n%s", screen)
		}
		d.keys("e", "y")
		if rs := d.records("offsets reset"); events(rs) != "refused" || rs[0].Result != "read-only context" {
			t.Fatalf("audit %+v", rs)
		}
		req := offsets.Request{Group: "billing", Topics: []offsets.Topic{{Name: "orders"}}, To: offsets.To{Kind: offsets.Earliest}}
		_, planErr := s.PlanReset(context.Background(), 0, req)
		applyErr := s.ApplyReset(context.Background(), 0, &offsets.Plan{Group: "billing", Rows: []offsets.Row{{Topic: "orders", Partition: 0}}})
		for what, err := range map[string]error{"plan": planErr, "apply": applyErr} {
			if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), `context "kfake" is read-only`) {
				t.Errorf("%s on a read-only context: %v", what, err)
			}
		}
	})
	if got := e.committed(t, "billing"); got != "0:4 1:15 2:30" {
		t.Fatalf("billing moved to %s", got)
	}
}

// A JetStream durable resets in place: shift=-4 from its ack floor, and
// the next message an independent client fetches is the plan's.
func TestResetJetStream(t *testing.T) {
	srv, js := natsJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Deadline(10*time.Second))
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := js.Publish(ctx, "orders.new", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(n int, ack bool) []uint64 { return testenv.FetchSeqs(t, ctx, cons, n, ack) }
	if seqs := fetch(10, true); len(seqs) != 10 || seqs[9] != 10 {
		t.Fatalf("acked %v, want 1..10", seqs)
	}

	s := &Brokers{Targets: []broker.Target{{Context: "nats", URL: srv.URL, Timeout: 10 * time.Second}}}
	defer s.Close()
	d := newResetDriver(t, s, false, "worker")
	d.keys("O", "s", "-4", "enter")
	screen := d.screen()
	for _, want := range []string{"Reset the offsets of consumer worker of stream ORDERS (nats) to shift=-4:", "STREAM", "ORDERS", "11 → 7", "reads 4 again",
		"In all: 4 messages read again; lag after 14.", "y will reset consumer worker of stream ORDERS"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, screen)
		}
	}
	plan := shownPlan(t, screen)
	d.keys("y")
	if screen := d.screen(); !strings.Contains(screen, "reset consumer worker of stream ORDERS to shift=-4") {
		t.Fatalf("after y:\n%s", screen)
	}
	if cons, err = stream.Consumer(ctx, "worker"); err != nil {
		t.Fatal(err)
	}
	seqs := fetch(1, false)
	if len(seqs) != 1 || plan != "ORDERS:"+strconv.FormatUint(seqs[0], 10) || seqs[0] != 7 {
		t.Fatalf("after the reset worker delivers %v first; the plan said %s", seqs, plan)
	}
	if rs := d.records("offsets reset"); events(rs) != "attempted confirmed finished" || rs[2].Broker != "nats" || rs[2].Group != "worker" || rs[2].Counts["replay"] != 4 {
		t.Fatalf("audit %+v", rs)
	}
}
