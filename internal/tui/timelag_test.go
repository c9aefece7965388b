package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mqctl/mqctl/internal/lag"
)

// consumerCells are the consumers view's rows as cells, by NAME and ON.
func consumerCells(m *Model) map[string][]string {
	out := map[string][]string{}
	for _, r := range m.rows(Consumers) {
		cells := m.cellsOf(&r)
		out[cells[1]+" "+cells[2]] = cells
	}
	return out
}

// TIME is the time lag of the read that asked for it, aged by the reads
// between that did not: exact while the row waits at the same position,
// a bound ("≤") once it moved on; "0s" with nothing waiting, "-" where
// unknown (a queue; asked and not known; lagging only since the last
// read that asked).
func TestTimeLagCarriedBetweenReads(t *testing.T) {
	f := newFixture()
	now := t0
	m := New(f, Options{Interval: 2 * time.Second, Now: func() time.Time { return now }, Tick: func(time.Duration, tea.Msg) tea.Cmd { return nil }})
	run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	kafka := func(asked bool, rows ...lag.Row) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.snaps[0].TimeLag = asked
		f.snaps[0].Lag = rows
	}
	part := func(p int32, committed, lagN int64, tl time.Duration) lag.Row {
		return lag.Row{Broker: "kafka", Kind: lag.KindPartition, Group: "billing", Topic: "orders", Partition: p, Committed: committed, End: committed + lagN, Lag: lagN, TimeLag: tl}
	}
	steps := []struct {
		at    time.Duration
		asked bool
		rows  []lag.Row
		want  map[string]string // NAME ON -> TIME
	}{
		{0, true, []lag.Row{part(0, 10, 400, 93*time.Second), part(1, 5, 0, 0), part(2, 7, 3, 0)},
			map[string]string{"billing orders/0": "1m33s", "billing orders/1": "0s", "billing orders/2": "-", "payments ": "-"}},
		// Not asked: partition 0 still at 10 waits on the same record.
		{2 * time.Second, false, []lag.Row{part(0, 10, 410, 0), part(1, 5, 2, 0), part(2, 7, 3, 0)},
			map[string]string{"billing orders/0": "1m35s", "billing orders/1": "-", "billing orders/2": "-"}},
		// It moved on: the record it waits on now is younger.
		{4 * time.Second, false, []lag.Row{part(0, 20, 400, 0), part(1, 5, 2, 0), part(2, 7, 3, 0)},
			map[string]string{"billing orders/0": "≤1m37s", "billing orders/1": "-"}},
		// Asked again: what the broker says, unknown where it said nothing.
		{6 * time.Second, true, []lag.Row{part(0, 20, 400, 0), part(1, 5, 2, 4*time.Second), part(2, 7, 3, 0)},
			map[string]string{"billing orders/0": "-", "billing orders/1": "4s"}},
		// Caught up, then lagging again: unknown until a read asks.
		{8 * time.Second, false, []lag.Row{part(0, 420, 0, 0), part(1, 5, 2, 0)},
			map[string]string{"billing orders/0": "0s", "billing orders/1": "6s"}},
		{10 * time.Second, false, []lag.Row{part(0, 420, 5, 0), part(1, 5, 2, 0)},
			map[string]string{"billing orders/0": "-", "billing orders/1": "8s"}},
	}
	for i, st := range steps {
		now = t0.Add(st.at)
		kafka(st.asked, st.rows...)
		if i == 0 {
			run(m, startMsg{})
		} else {
			run(m, tickMsg{ctx: 0})
		}
		cells := consumerCells(m)
		for k, want := range st.want {
			c, ok := cells[k]
			if !ok {
				t.Fatalf("step %d: no row %q", i, k)
			}
			if c[4] != want {
				t.Errorf("step %d: %s TIME %q, want %q", i, k, c[4], want)
			}
		}
	}
	// The column sorts by the time shown.
	typeKeys(m, "3", "s", "s", "s", "s", "S")
	if top := m.cellsOf(&m.rows(Consumers)[0]); top[2] != "orders/1" {
		t.Errorf("TIME descending starts with %v", top)
	}
	if s := m.Content(); !strings.Contains(s, "TIME↓") {
		t.Errorf("not sorted by TIME:\n%s", s)
	}
}
