package tui

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fixture is a data fixture for UI logic (broker behaviour is covered by
// the e2e tests): per context a snapshot or an error.
type fixture struct {
	mu    sync.Mutex
	names []string
	snaps []Snapshot
	errs  []error
	reads []int
	msgs  []broker.Message
	peeks int

	// Actions: what they return, and the calls they got.
	readOnly  []bool
	plan      Plan
	planErr   error
	replayErr error
	purged    int64
	plans     int
	replays   []int64 // the limit of each call
	purges    []string
	cancelled bool // a Replay or Purge saw its context cancelled

	// Offsets resets: the plan returned, the requests and applied plans.
	resetPlan     offsets.Plan
	resetPlanErr  error
	resetErr      error
	resetRequests []offsets.Request
	resets        []offsets.Plan
}

func (f *fixture) Contexts() []string { return f.names }
func (f *fixture) Read(_ context.Context, i int) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[i]++
	return f.snaps[i], f.errs[i]
}
func (f *fixture) Peek(context.Context, int, string, int) ([]broker.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peeks++
	return f.msgs, nil
}

func (f *fixture) ReadOnly(i int) bool { return f.readOnly != nil && f.readOnly[i] }
func (f *fixture) PlanReplay(_ context.Context, i int, dest string) (Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
	return f.plan, f.planErr
}

// Replay counts as a run would, or stops as dlq.Run does when its context
// was cancelled.
func (f *fixture) Replay(ctx context.Context, i int, dest string, limit int64, st *dlq.MoveStats) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replays = append(f.replays, limit)
	if ctx.Err() != nil {
		f.cancelled = true
		st.Read.Add(1)
		st.Forwarded.Add(1)
		return mqerr.Wrap(mqerr.Interrupted, errors.New("interrupted"))
	}
	st.Read.Add(f.plan.Read)
	st.Forwarded.Add(f.plan.Replay)
	st.Left.Add(f.plan.Left)
	return f.replayErr
}
func (f *fixture) PlanReset(_ context.Context, i int, req offsets.Request) (offsets.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetRequests = append(f.resetRequests, req)
	p := f.resetPlan
	p.Group, p.To = req.Group, req.To.String()
	return p, f.resetPlanErr
}
func (f *fixture) ApplyReset(_ context.Context, i int, p *offsets.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, *p)
	return f.resetErr
}
func (f *fixture) Purge(ctx context.Context, i int, dest string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purges = append(f.purges, dest)
	f.cancelled = ctx.Err() != nil
	return f.purged, nil
}

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func newFixture() *fixture {
	hostile := "evil\x1b[2J\u202etxt"
	return &fixture{
		names: []string{"sandbox-kafka", "sandbox-rabbitmq"},
		snaps: []Snapshot{{
			Broker: "kafka",
			Destinations: []broker.Destination{
				{Broker: "kafka", Type: "topic", Name: "orders", Messages: 1200, Partitions: 3},
				{Broker: "kafka", Type: "topic", Name: "orders.DLT", Messages: 7},
				{Broker: "kafka", Type: "topic", Name: hostile, Messages: 1},
			},
			Lag: []lag.Row{
				{Broker: "kafka", Kind: lag.KindPartition, Group: "billing", Topic: "orders", Partition: 0, Committed: 10, End: 410, Lag: 400, TimeLag: 93 * time.Second},
				{Broker: "kafka", Kind: lag.KindPartition, Group: "shipping", Topic: "orders", Partition: 0, Committed: 410, End: 410, Lag: 0},
			},
			DeadLetters: []DeadLetterRow{{
				DeadLetterDestination: broker.DeadLetterDestination{Broker: "kafka", Type: "topic", Name: "orders.DLT", Messages: 7, Oldest: t0.Add(-3 * time.Hour), Why: "name matches *.DLT"},
				TopReason:             "Listener failed;\nnested exception is java.lang.IllegalStateException: SKU not found", Origin: "orders", Sampled: 7,
			}},
		}, {
			Broker: "rabbitmq",
			Destinations: []broker.Destination{
				{Broker: "rabbitmq", Type: "queue", Name: "payments", Messages: 42, Consumers: 2},
			},
			Lag: []lag.Row{{Broker: "rabbitmq", Kind: lag.KindQueue, Queue: "payments", Lag: 42, PublishRate: 12.5, DeliverRate: 3}},
			DeadLetters: []DeadLetterRow{{
				DeadLetterDestination: broker.DeadLetterDestination{Broker: "rabbitmq", Type: "queue", Name: "payments.dlq", Messages: 3, Why: "dead-letter exchange of payments"},
				NotRead:               true,
			}},
		}},
		errs:  []error{nil, nil},
		reads: []int{0, 0},
		msgs: []broker.Message{
			{Value: []byte(`{"id":1,"note":"\u001b[31mred"}`), Timestamp: t0, Headers: []broker.Header{{Key: "mq-death-reason", Value: []byte("boom\x1b]0;x\x07")}, {Key: "mq-origin", Value: []byte("orders")}}},
			{Value: []byte{0xff, 0x00, 0x1b, '[', '2', 'J'}, Timestamp: t0},
		},
	}
}

// run drives m synchronously: it runs the commands a message returns
// (ticks are not run: tests send them), as the program would.
func run(m *Model, msg tea.Msg) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg, queue = queue[0], queue[1:]
		_, cmd := m.Update(msg)
		queue = append(queue, exec(cmd)...)
	}
}

type tick struct {
	d   time.Duration
	msg tea.Msg
}

func exec(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, exec(c)...)
		}
		return out
	case tick, tea.QuitMsg:
		return nil
	case nil:
		return nil
	default:
		return []tea.Msg{msg}
	}
}

func newModel(f *fixture, ticks *[]tick) *Model {
	now := t0
	return New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(d time.Duration, msg tea.Msg) tea.Cmd {
		if ticks != nil {
			*ticks = append(*ticks, tick{d, msg})
		}
		return func() tea.Msg { return tick{d, msg} }
	}})
}

func key(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

func typeKeys(m *Model, keys ...string) {
	for _, k := range keys {
		run(m, key(k))
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/tui -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func TestViewsGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		for _, v := range []string{"1", "2", "3", "4", "browser"} {
			name := fmt.Sprintf("%s_%dx%d", v, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				f := newFixture()
				m := newModel(f, nil)
				run(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				run(m, startMsg{})
				if v == "browser" {
					typeKeys(m, "4", "enter")
				} else {
					typeKeys(m, v)
				}
				got := m.Content()
				if strings.ContainsAny(got, "\x1b\x07") {
					t.Fatalf("escape or BEL reached the screen: %q", got)
				}
				for i, l := range strings.Split(got, "\n") {
					if w := len([]rune(l)); w > size[0] {
						t.Errorf("line %d is %d wide, over %d: %q", i, w, size[0], l)
					}
				}
				if n := strings.Count(got, "\n") + 1; n != size[1] {
					t.Errorf("%d lines, want %d", n, size[1])
				}
				checkGolden(t, name, got)
			})
		}
	}
}

func TestStaleContextGolden(t *testing.T) {
	f := newFixture()
	var now = t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(d time.Duration, msg tea.Msg) tea.Cmd { return nil }})
	run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	run(m, startMsg{})
	f.errs[1] = errors.New("dial tcp 127.0.0.1:5672: connect: connection refused")
	now = t0.Add(37 * time.Second)
	run(m, tickMsg{ctx: 0})
	run(m, tickMsg{ctx: 1})
	got := m.Content()
	if !strings.Contains(got, "stale 37s") || !strings.Contains(got, "connection refused") {
		t.Fatalf("no stale marker or status line:\n%s", got)
	}
	checkGolden(t, "stale_80x24", got)
	// Keys still answer while a context is down.
	typeKeys(m, "3")
	if m.view != Consumers {
		t.Fatal("3 did not switch to consumers")
	}
}

// In and out rates come from two reads: "-" after the first; then the
// written delta (in) and the fastest group's commit delta (out) over the
// time between them; a RabbitMQ queue shows its broker's rates at once.
func TestDestinationRates(t *testing.T) {
	f := newFixture()
	f.snaps[0].Destinations[0].Written = 1000
	var now = t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(d time.Duration, msg tea.Msg) tea.Cmd { return nil }})
	run(m, tea.WindowSizeMsg{Width: 200, Height: 50})
	run(m, startMsg{})
	typeKeys(m, "2")
	cells := func(name string) []string {
		for _, r := range m.rows(Destinations) {
			if r.name == name {
				return r.cells
			}
		}
		t.Fatalf("no row %s", name)
		return nil
	}
	if c := cells("orders"); c[4] != "-" || c[5] != "-" {
		t.Fatalf("rates after one read: %q", c)
	}
	if c := cells("payments"); c[4] != "12" || c[5] != "3.0" {
		t.Fatalf("RabbitMQ's rates: %q", c)
	}
	f.mu.Lock()
	snap := f.snaps[0]
	snap.Destinations = slices.Clone(snap.Destinations)
	snap.Destinations[0].Written = 1040
	snap.Lag = slices.Clone(snap.Lag)
	snap.Lag[0].Committed += 20 // billing
	snap.Lag[1].Committed += 4  // shipping
	f.snaps[0] = snap
	f.mu.Unlock()
	now = t0.Add(4 * time.Second)
	run(m, tickMsg{ctx: 0})
	if c := cells("orders"); c[4] != "10" || c[5] != "5.0" {
		t.Fatalf("rates after two reads 4s apart: %q", c)
	}
	if c := cells("orders.DLT"); c[4] != "0.0" || c[5] != "-" {
		t.Fatalf("a topic nothing wrote to or read: %q", c)
	}
	// r 200ms later, nothing written meanwhile: too short a span, the
	// rates stay; the next read measures from the last long-enough one.
	now = now.Add(200 * time.Millisecond)
	run(m, key("r"))
	if c := cells("orders"); c[4] != "10" || c[5] != "5.0" {
		t.Fatalf("rates after a read 200ms later: %q", c)
	}
	f.mu.Lock()
	snap = f.snaps[0]
	snap.Destinations = slices.Clone(snap.Destinations)
	snap.Destinations[0].Written = 1060
	f.snaps[0] = snap
	f.mu.Unlock()
	now = t0.Add(6 * time.Second)
	run(m, tickMsg{ctx: 0})
	if c := cells("orders"); c[4] != "10" {
		t.Fatalf("rates 2s after the last long-enough read: %q", c)
	}
}

func TestNavigationFilterSort(t *testing.T) {
	f := newFixture()
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 200, Height: 50})
	run(m, startMsg{})
	typeKeys(m, "2")
	if m.view != Destinations || len(m.rows(Destinations)) != 4 {
		t.Fatalf("view %v rows %d", m.view, len(m.rows(Destinations)))
	}
	typeKeys(m, "/", "p", "a", "y")
	if rs := m.rows(Destinations); len(rs) != 1 || rs[0].name != "payments" {
		t.Fatalf("filter pay: %+v", rs)
	}
	typeKeys(m, "esc")
	if m.filter[Destinations] != "" || m.mode != 0 {
		t.Fatal("esc did not clear the filter")
	}
	// Sort by DEPTH (column 3), then reverse.
	typeKeys(m, "s", "s", "s")
	if rs := m.rows(Destinations); rs[0].name != "evil\x1b[2J\u202etxt" || rs[3].name != "orders" {
		t.Fatalf("ascending depth: %v %v", rs[0].name, rs[3].name)
	}
	typeKeys(m, "S")
	if rs := m.rows(Destinations); rs[0].name != "orders" {
		t.Fatalf("descending depth: %v", rs[0].name)
	}
	typeKeys(m, ":", "d", "e", "a", "d", "enter")
	if m.view != DeadLetters {
		t.Fatalf(":dead went to %v", m.view)
	}
	typeKeys(m, "enter")
	if m.view != Browser || len(m.peek.msgs) != 2 {
		t.Fatalf("enter: view %v, %d messages", m.view, len(m.peek.msgs))
	}
	typeKeys(m, "esc")
	if m.view != DeadLetters {
		t.Fatalf("esc went back to %v", m.view)
	}
	typeKeys(m, "esc", "esc")
	if m.view != Overview {
		t.Fatalf("back to %v", m.view)
	}
	typeKeys(m, "?")
	if !strings.Contains(m.Content(), "Keys") {
		t.Fatal("no help")
	}
	typeKeys(m, "x")
	if m.help {
		t.Fatal("a key did not close help")
	}
	run(m, key("ctrl+c"))
	if !m.Interrupted() {
		t.Fatal("ctrl+c is not an interrupt")
	}
}

func TestRefreshCoalescedPausedBackoff(t *testing.T) {
	f := newFixture()
	var ticks []tick
	m := newModel(f, &ticks)
	// A read in flight: more refresh requests queue exactly one more.
	cmd := m.read(0)
	for range 2 {
		if m.read(0) != nil {
			t.Fatal("a second read started while one was in flight")
		}
	}
	run(m, cmd())
	if f.reads[0] != 2 {
		t.Fatalf("%d reads, want 2 (one coalesced)", f.reads[0])
	}
	// Paused: a tick re-arms and reads nothing.
	typeKeys(m, "p")
	run(m, tickMsg{ctx: 0})
	if f.reads[0] != 2 {
		t.Fatal("a paused tick read")
	}
	typeKeys(m, "p")
	// Failures double the delay up to a minute.
	f.errs[0] = errors.New("down")
	ticks = nil
	for range 7 {
		run(m, tickMsg{ctx: 0})
	}
	var ds []string
	for _, tk := range ticks {
		ds = append(ds, tk.d.String())
	}
	if got := strings.Join(ds, " "); got != "4s 8s 16s 32s 1m0s 1m0s 1m0s" {
		t.Fatalf("backoff %s", got)
	}
	f.errs[0] = nil
	ticks = nil
	run(m, tickMsg{ctx: 0})
	if ticks[0].d != 2*time.Second || m.ctxs[0].err != nil {
		t.Fatalf("after recovery: %v %v", ticks[0].d, m.ctxs[0].err)
	}
}

func BenchmarkView1000(b *testing.B) {
	f := newFixture()
	f.snaps[0].Destinations = nil
	for i := range 1000 {
		f.snaps[0].Destinations = append(f.snaps[0].Destinations, broker.Destination{Broker: "kafka", Type: "topic", Name: fmt.Sprintf("topic-%04d", i), Messages: int64(i * 7 % 1000)})
	}
	m := newModel(f, nil)
	run(m, tea.WindowSizeMsg{Width: 200, Height: 50})
	run(m, startMsg{})
	typeKeys(m, "2", "s", "s", "s")
	b.Run("rebuild", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.version++ // as after a refresh: rows rebuilt, filtered, sorted
			_ = m.Content()
		}
	})
	b.Run("redraw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Content()
		}
	})
}

// The footer leaves out the least important hints until it fits: help and
// quit stay at every width from 80 down to where only they fit, the order
// is kept, and a wide terminal shows every hint.
func TestKeyHintsFit(t *testing.T) {
	all := "R replay  X purge  1-5 views  / filter  s/S sort  p pause  r refresh  Enter open  Esc back  ? help  q quit"
	if got := keyHints(deadLetterKeys, 200); got != all {
		t.Errorf("at 200 columns %q, want every hint", got)
	}
	if got := keyHints(noActionKeys, 200); got != strings.TrimPrefix(all, "R replay  X purge  ") {
		t.Errorf("without actions at 200 columns %q", got)
	}
	if got := keyHints(consumerKeys, 200); got != "O reset  "+strings.TrimPrefix(all, "R replay  X purge  ") {
		t.Errorf("consumers at 200 columns %q", got)
	}
	for _, actions := range []actionKeys{deadLetterKeys, consumerKeys, noActionKeys} {
		for w := 80; w >= 14; w-- {
			got := keyHints(actions, w)
			if runewidth.StringWidth(got) > w || !strings.HasSuffix(got, "? help  q quit") {
				t.Fatalf("actions %v, %d columns: %q", actions, w, got)
			}
			// In display order: every shown hint is in the full line, in turn.
			rest := "O reset  " + all
			for _, h := range strings.Split(got, "  ") {
				i := strings.Index(rest, h)
				if i < 0 {
					t.Fatalf("actions %v, %d columns: %q is out of order", actions, w, got)
				}
				rest = rest[i+len(h):]
			}
		}
	}
	if got := keyHints(deadLetterKeys, 80); !strings.HasPrefix(got, "R replay  X purge") {
		t.Errorf("at 80 columns the dead-letter footer lost its actions: %q", got)
	}
	if got := keyHints(consumerKeys, 80); !strings.HasPrefix(got, "O reset") {
		t.Errorf("at 80 columns the consumers footer lost its action: %q", got)
	}
}

// r reads every context at once, also while paused; for a context whose
// read is in flight it asks for one more read after it, not a second one
// beside it.
func TestRefreshNowKey(t *testing.T) {
	f := newFixture()
	m := newModel(f, nil)
	run(m, startMsg{})
	if f.reads[0] != 1 || f.reads[1] != 1 {
		t.Fatalf("reads after start %v", f.reads)
	}
	typeKeys(m, "p", "r")
	if f.reads[0] != 2 || f.reads[1] != 2 {
		t.Fatalf("r while paused: reads %v, want [2 2]", f.reads)
	}
	inFlight := m.read(0)
	_, cmd := m.Update(key("r"))
	msgs := exec(cmd)
	if f.reads[0] != 2 || f.reads[1] != 3 {
		t.Fatalf("r with context 0 in flight: reads %v, want [2 3]", f.reads)
	}
	for _, msg := range append(msgs, inFlight()) {
		run(m, msg)
	}
	if f.reads[0] != 4 || f.reads[1] != 3 {
		t.Fatalf("after the read in flight: reads %v, want [4 3] (it and the one r asked for)", f.reads)
	}
}

// The status line names every failing context, in context order, as many
// as fit; the others are counted, and nothing runs past the width.
func TestStatusLineListsEveryFailure(t *testing.T) {
	f := newFixture()
	f.names = []string{"a", "bb", "c", "ok"}
	f.snaps = append(f.snaps, f.snaps...)
	f.errs = []error{errors.New("dial tcp 10.0.0.1:9092: connect: connection refused"), errors.New("EOF\x1b[2J\nsecond line"), errors.New("401 Unauthorized"), nil}
	f.reads = make([]int, 4)
	m := newModel(f, nil)
	run(m, startMsg{})
	status := func(w int) string {
		run(m, tea.WindowSizeMsg{Width: w, Height: 24})
		ls := strings.Split(m.Content(), "\n")
		return ls[len(ls)-2]
	}
	want := `a: dial tcp 10.0.0.1:9092: connect: connection refused; retry in 4s · bb: EOF\x1b[2J; retry in 4s · c: 401 Unauthorized; retry in 4s`
	if got := status(200); got != want {
		t.Errorf("at 200 columns:\n got %q\nwant %q", got, want)
	}
	if got := status(120); got != `a: dial tcp 10.0.0.1:9092: connect: connection refused; retry in 4s · bb: EOF\x1b[2J; retry in 4s · +1 more` {
		t.Errorf("at 120 columns: %q", got)
	}
	if got := status(80); got != `a: dial tcp 10.0.0.1:9092: connect: connection refused; retry in 4s · +2 more` {
		t.Errorf("at 80 columns: %q", got)
	}
	if got := status(40); got != `a: dial tcp 10.0.0.1:9092: co… · +2 more` {
		t.Errorf("at 40 columns: %q", got)
	}
	for w := 20; w <= 200; w++ {
		if got := status(w); runewidth.StringWidth(got) > w || !strings.HasPrefix(got, "a") {
			t.Fatalf("at %d columns: %q", w, got)
		}
	}
	// A key's message comes first, the failures after it.
	typeKeys(m, ":", "x", "enter")
	run(m, tea.WindowSizeMsg{Width: 200, Height: 24})
	if got := status(200); !strings.HasPrefix(got, `unknown view "x"`) || !strings.Contains(got, "· a: dial") {
		t.Errorf("status with a key's message: %q", got)
	}
}

// A tick rebuilds the rows only when a cell shows the clock: a stale
// context's age or a dead letter's age; otherwise the built rows stay.
func TestTickRebuildsOnlyForClockCells(t *testing.T) {
	f := newFixture()
	f.snaps[0].DeadLetters[0].Oldest = time.Time{}
	now := t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	run(m, startMsg{})
	v := m.version
	now = now.Add(2 * time.Second)
	_, read0 := m.Update(tickMsg{ctx: 0})
	if m.version != v {
		t.Fatal("a tick rebuilt rows though no cell shows the clock")
	}
	now = now.Add(3 * time.Second) // past twice the interval since the last read: stale
	_, read1 := m.Update(tickMsg{ctx: 1})
	if m.version == v {
		t.Fatal("a tick did not rebuild rows whose stale age changed")
	}
	f.snaps[0].DeadLetters[0].Oldest = t0
	for _, msg := range append(exec(read0), exec(read1)...) {
		run(m, msg)
	}
	v = m.version
	m.Update(tickMsg{ctx: 0})
	if m.version == v {
		t.Fatal("a tick did not rebuild the dead letters' ages")
	}
}

// Paused, the rows stop refreshing and age: the status line says so, and
// since when, and a context that was answering is not marked stale as
// one that stopped answering is; r reads once and moves the time on.
func TestPausedSaysSo(t *testing.T) {
	f := newFixture()
	now := t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	run(m, tea.WindowSizeMsg{Width: 140, Height: 24})
	run(m, startMsg{})
	f.errs[1] = errors.New("dial tcp 127.0.0.1:5672: connect: connection refused")
	now = t0.Add(3 * time.Second)
	run(m, tickMsg{ctx: 1})
	typeKeys(m, "p")
	now = t0.Add(40 * time.Second)
	run(m, tickMsg{ctx: 0})
	run(m, tickMsg{ctx: 1})
	screen := m.Content()
	ls := strings.Split(screen, "\n")
	status := ls[len(ls)-2]
	if !strings.HasPrefix(status, "paused: rows as of 12:00:03 (37s ago); p resumes, r reads once") || !strings.Contains(status, "connection refused") {
		t.Errorf("status line %q", status)
	}
	for _, l := range ls[2 : len(ls)-2] {
		if strings.Contains(l, "sandbox-kafka") && strings.Contains(l, "stale") {
			t.Errorf("a paused context that answered is marked stale: %q", l)
		}
		if strings.Contains(l, "sandbox-rabbitmq") && !strings.HasSuffix(l, "stale 40s") {
			t.Errorf("the context that stopped answering is not marked stale: %q", l)
		}
	}
	if f.reads[0] != 1 {
		t.Fatalf("paused, context 0 was read %d times, want 1", f.reads[0])
	}
	now = t0.Add(50 * time.Second)
	typeKeys(m, "r")
	if st := strings.Split(m.Content(), "\n")[23-1]; !strings.HasPrefix(st, "paused: rows as of 12:00:50 (0s ago)") {
		t.Errorf("after r: %q", st)
	}
	typeKeys(m, "p")
	if st := strings.Split(m.Content(), "\n")[23-1]; strings.Contains(st, "paused") {
		t.Errorf("resumed, the status line still says %q", st)
	}
}

// A status needs the lag --watch window full (5 reads): until then the
// consumers' STATUS and the overview's WORST count the reads, "…2/5",
// instead of a "-" that reads as "no consumers".
func TestStatusWarmingUp(t *testing.T) {
	f := newFixture()
	now := t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	run(m, startMsg{})
	worst := func() string { return m.cellsOf(&m.rows(Overview)[0])[6] }
	if w := worst(); w != "…1/5" {
		t.Fatalf("after the first read WORST is %q, want …1/5", w)
	}
	for n := 2; n <= 5; n++ {
		now = t0.Add(time.Duration(n) * 2 * time.Second)
		run(m, tickMsg{ctx: 0})
		run(m, tickMsg{ctx: 1})
		cells := consumerCells(m)
		want := warming(n, 5)
		if n == 5 {
			want = "a verdict"
		}
		for k, c := range cells {
			if strings.HasPrefix(c[6], "…") != (n < 5) || (n < 5 && c[6] != want) || c[6] == "-" {
				t.Errorf("read %d: %s STATUS %q, want %s", n, k, c[6], want)
			}
		}
		if w := worst(); strings.HasPrefix(w, "…") != (n < 5) || w == "-" {
			t.Errorf("read %d: WORST %q, want %s", n, w, want)
		}
	}
}
