//go:build unix

package tui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
)

// scaleFixture is one context of n RabbitMQ queues (with their lag rows),
// or of Kafka topics of 100 partitions each, one lagging group per topic:
// n partitions in all.
func scaleFixture(queues bool, n int) *fixture {
	f := newFixture()
	f.names, f.errs, f.reads = f.names[:1], f.errs[:1], f.reads[:1]
	s := Snapshot{Broker: "kafka"}
	if queues {
		s.Broker = "rabbitmq"
		for i := range n {
			name := fmt.Sprintf("queue-%05d", i)
			s.Destinations = append(s.Destinations, broker.Destination{Broker: "rabbitmq", Type: "queue", Name: name, Messages: int64(i * 7919 % 10007), Consumers: i % 3})
			s.Lag = append(s.Lag, lag.Row{Broker: "rabbitmq", Kind: lag.KindQueue, Queue: name, Lag: int64(i * 7919 % 10007), PublishRate: float64(i % 50), DeliverRate: float64(i % 40)})
		}
	} else {
		for t := range n / 100 {
			topic := fmt.Sprintf("topic-%04d", t)
			s.Destinations = append(s.Destinations, broker.Destination{Broker: "kafka", Type: "topic", Name: topic, Messages: int64(t * 1000), Partitions: 100})
			for p := range 100 {
				s.Lag = append(s.Lag, lag.Row{Broker: "kafka", Kind: lag.KindPartition, Group: "group-" + topic, Topic: topic, Partition: int32(p), Committed: 10, End: int64(10 + (t*100+p)*7919%10007), Lag: int64((t*100 + p) * 7919 % 10007)})
			}
		}
	}
	f.snaps = []Snapshot{s}
	return f
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs one op per iteration and reports, beside the wall time, the
// CPU time per op (GC included): on a shared machine the wall time also
// counts the time other processes held the CPU.
func loop(b *testing.B, op func()) {
	start := cpuTime(b)
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkKeyToRedraw is a key press's cost at scale: Update with the key,
// then the frame (View) the program draws after it. move is a cursor key
// (rows cached); sort and filter filter and sort every row.
func BenchmarkKeyToRedraw(b *testing.B) {
	for _, sc := range []struct {
		name   string
		queues bool
		n      int
		view   string
	}{{"10000queues", true, 10000, "2"}, {"50000partitions", false, 50000, "3"}} {
		f := scaleFixture(sc.queues, sc.n)
		m := newModel(f, nil)
		run(m, tea.WindowSizeMsg{Width: 200, Height: 50})
		run(m, startMsg{})
		typeKeys(m, sc.view)
		if rows := len(m.rows(m.view)); rows != sc.n {
			b.Fatalf("%s: %d rows", sc.name, rows)
		}
		b.Run(sc.name+"/move", func(b *testing.B) {
			loop(b, func() {
				m.Update(key("j"))
				_ = m.View()
			})
		})
		b.Run(sc.name+"/sort", func(b *testing.B) {
			loop(b, func() {
				m.Update(key("s"))
				_ = m.View()
			})
		})
		// One op is two keys: a character, then backspace.
		b.Run(sc.name+"/filter", func(b *testing.B) {
			typeKeys(m, "/")
			loop(b, func() {
				m.Update(key("1"))
				_ = m.View()
				m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
				_ = m.View()
			})
			typeKeys(m, "esc")
		})
		// refresh is what a refresh costs the event loop: its message
		// applied (data swapped in), then the frame, whose rows are
		// gathered and sorted again. refresh+key adds a key pressed while
		// that happens: the wait a key sees once per --interval.
		// refresh-cmd is the read command's derivation, off the event
		// loop (lag window, verdicts, sparklines, rates, built rows).
		read := m.refresh(0).derive(f.snaps[0], nil, t0)
		b.Run(sc.name+"/refresh", func(b *testing.B) {
			loop(b, func() {
				m.Update(read)
				_ = m.View()
			})
		})
		b.Run(sc.name+"/refresh+key", func(b *testing.B) {
			loop(b, func() {
				m.Update(read)
				_ = m.View()
				m.Update(key("j"))
				_ = m.View()
			})
		})
		b.Run(sc.name+"/refresh-cmd", func(b *testing.B) {
			job := m.refresh(0)
			loop(b, func() {
				read = job.derive(f.snaps[0], nil, t0)
			})
		})
	}
}

// Consumers rows make their cells on first use: the filter still sees
// every cell of every row (not only those drawn), and the rows drawn
// after a sort are the sorted ones, with their own cells.
func TestConsumersCellsOnDemand(t *testing.T) {
	f := scaleFixture(false, 1000)
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 120, Height: 24})
	run(m, startMsg{})
	typeKeys(m, "3", "/")
	typeKeys(m, strings.Split("topic-0007/42", "")...)
	if rs := m.rows(Consumers); len(rs) != 1 || rs[0].name != "group-topic-0007" {
		t.Fatalf("filter on the ON cell of a row never drawn: %d rows", len(rs))
	}
	typeKeys(m, "esc", "/")
	lag := strconv.Itoa((7*100 + 42) * 7919 % 10007) // that row's lag, a cell too
	typeKeys(m, strings.Split(lag, "")...)
	if !slices.ContainsFunc(m.rows(Consumers), func(r row) bool { return r.name == "group-topic-0007" }) {
		t.Fatalf("filter %s on the LAG cell missed its row", lag)
	}
	typeKeys(m, "esc", "s", "s", "s", "S") // by lag, largest first
	screen := m.Content()
	top := strings.Fields(strings.Split(screen, "\n")[2])
	most := 0
	for i := range 1000 {
		most = max(most, i*7919%10007)
	}
	if len(top) < 5 || top[0] != ">" || top[4] != strconv.Itoa(most) {
		t.Fatalf("first row after sorting by lag, descending: %q\n%s", top, screen)
	}
}

// A refresh's derivation runs in its read command while the event loop
// goes on with keys and frames (-race checks they share nothing mutable);
// the model holds no history while the read owns it, a refresh asked for
// meanwhile is coalesced into one read after it, and the rows then show
// the new data.
func TestRefreshDerivedInReadCommand(t *testing.T) {
	f := scaleFixture(false, 1000)
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 120, Height: 24})
	run(m, startMsg{})
	typeKeys(m, "3")
	next := f.snaps[0]
	next.Lag = slices.Clone(next.Lag)
	next.Lag[0].Lag = 987654321
	f.mu.Lock()
	f.snaps[0] = next
	f.mu.Unlock()
	_, cmd := m.Update(key("r"))
	if cmd == nil || m.ctxs[0].hist != nil {
		t.Fatal("r started no read, or the model kept the history the read owns")
	}
	done := make(chan []tea.Msg)
	go func() { done <- exec(cmd) }()
	for _, k := range []string{"j", "s", "s", "s", "S", "/", "4", "2", "esc", "k"} { // ends sorted by lag, largest first
		if _, again := m.Update(key(k)); again != nil {
			t.Fatalf("key %q while a read is in flight returned a command", k)
		}
		_ = m.View()
	}
	if _, again := m.Update(key("r")); again != nil {
		t.Fatal("a second r while a read is in flight was not coalesced")
	}
	msgs := <-done
	if len(msgs) != 1 {
		t.Fatalf("the read command sent %d messages", len(msgs))
	}
	_, after := m.Update(msgs[0])
	if after == nil || !m.ctxs[0].inFlight {
		t.Fatal("after the result the coalesced read did not start")
	}
	for _, msg := range exec(after) {
		run(m, msg)
	}
	if m.ctxs[0].hist == nil || f.reads[0] != 3 {
		t.Fatalf("history not handed back after the coalesced read, or %d reads (want 3: start, r, the coalesced r)", f.reads[0])
	}
	if !strings.Contains(m.Content(), "987654321") {
		t.Fatalf("the new lag is not on screen:\n%s", m.Content())
	}
}

// A partial read (an error with some roles' data) brings what came and
// keeps the rest: the derivation in the read command starts from the data
// the context showed, and the rows of a failed context are built on the
// event loop with their stale cell.
func TestPartialReadKeepsTheRest(t *testing.T) {
	f := newFixture()
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 200, Height: 50})
	run(m, startMsg{})
	before := m.ctxs[0].ctxData
	next := Snapshot{Broker: "kafka", Lag: slices.Clone(f.snaps[0].Lag)}
	next.Lag[0].Lag = 4242
	f.mu.Lock()
	f.snaps[0], f.errs[0] = next, errors.New("listing: boom")
	f.mu.Unlock()
	typeKeys(m, "r")
	c := m.ctxs[0]
	if c.err == nil || c.hist == nil {
		t.Fatalf("after a failed read: err %v, history handed back %v", c.err, c.hist != nil)
	}
	if len(c.snap.Destinations) != len(before.snap.Destinations) || &c.snap.Destinations[0] != &before.snap.Destinations[0] || len(c.snap.DeadLetters) != len(before.snap.DeadLetters) || c.trend["orders"] == "" {
		t.Fatalf("the destinations and dead letters that did not come were not kept: %+v", c.snap)
	}
	typeKeys(m, "2")
	if s := m.Content(); !strings.Contains(s, "orders.DLT") || !strings.Contains(s, "stale") {
		t.Fatalf("destinations view after a partial read:\n%s", s)
	}
	typeKeys(m, "3")
	if s := m.Content(); !strings.Contains(s, "4242") {
		t.Fatalf("consumers view without the lag that came:\n%s", s)
	}
}
