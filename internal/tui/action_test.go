package tui

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mqctl/mqctl/internal/audit"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// actionModel is a model at 80x24 on the dead-letter view, with its rows
// read and an audit log in a temporary directory.
func actionModel(t *testing.T, f *fixture) (*Model, string) {
	t.Helper()
	m := newModel(f, nil)
	path := filepath.Join(t.TempDir(), "state", "mqctl", "audit.jsonl")
	m.opt.Audit = audit.Open(path)
	m.opt.Audit.Now = func() time.Time { return t0 }
	run(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	run(m, startMsg{})
	typeKeys(m, "4")
	return m, path
}

func records(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func events(rs []audit.Record) string {
	var es []string
	for _, r := range rs {
		es = append(es, r.Event)
	}
	return strings.Join(es, " ")
}

func replayFixture() *fixture {
	f := newFixture()
	f.plan = Plan{Read: 7, Replay: 6, Left: 1, To: map[string]int64{"orders": 4, "payments": 2}, Settle: "committed in group mqctl-dlq"}
	return f
}

// R: a dry run, a dialog saying how many go where, y runs the replay once
// through Source.Replay, the status says what it did, the context is read
// again at once, and the audit log has every step with counts.
func TestReplayConfirmed(t *testing.T) {
	f := replayFixture()
	m, path := actionModel(t, f)
	reads := f.reads[0]
	typeKeys(m, "R")
	if f.plans != 1 || m.act == nil || m.act.phase != confirming {
		t.Fatalf("R: %d dry runs, action %+v", f.plans, m.act)
	}
	screen := m.Content()
	for _, want := range []string{"Replay 6 dead letters of orders.DLT (sandbox-kafka)", "4 → orders", "2 → payments",
		"1 stay where they are", "committed in group mqctl-dlq only after the broker confirmed", "y replay"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the dialog lacks %q:\n%s", want, screen)
		}
	}
	checkGolden(t, "replay_confirm_80x24", screen)
	if len(f.replays) != 0 {
		t.Fatal("replayed before y")
	}
	typeKeys(m, "y")
	if len(f.replays) != 1 || f.replays[0] != 7 {
		t.Fatalf("replays %v, want one with limit 7 (6 to replay + 1 left)", f.replays)
	}
	if m.act != nil || !strings.Contains(m.status, "replay orders.DLT: read 7, replayed 6") {
		t.Fatalf("after the run: action %v, status %q", m.act, m.status)
	}
	if f.reads[0] != reads+1 {
		t.Errorf("the context was not read again after the replay (%d reads, want %d)", f.reads[0], reads+1)
	}
	rs := records(t, path)
	if got := events(rs); got != "attempted confirmed finished" {
		t.Fatalf("audit events %q", got)
	}
	last := rs[2]
	if last.Context != "sandbox-kafka" || last.Broker != "kafka" || last.Action != "replay" || last.Destination != "orders.DLT" ||
		last.Via != "top" || last.Result != "ok" || last.Counts["replayed"] != 6 || last.Counts["left"] != 1 || last.ID != rs[0].ID || last.User == "" {
		t.Errorf("finished record %+v", last)
	}
	if rs[1].Counts["replay"] != 6 {
		t.Errorf("confirmed record %+v", rs[1])
	}
}

// n, Esc, Enter (the default) and Ctrl-C in the dialog cancel: nothing
// is replayed, the program keeps running, and the log says so.
func TestReplayNotConfirmed(t *testing.T) {
	for _, k := range []string{"n", "esc", "enter", "ctrl+c", "q"} {
		t.Run(k, func(t *testing.T) {
			f := replayFixture()
			m, path := actionModel(t, f)
			typeKeys(m, "R", "x", k)
			if len(f.replays) != 0 || m.act != nil || m.quitting || !strings.Contains(m.status, "nothing was changed") {
				t.Fatalf("%s: replays %v, action %v, quitting %v, status %q", k, f.replays, m.act, m.quitting, m.status)
			}
			if got := events(records(t, path)); got != "attempted cancelled" {
				t.Errorf("audit events %q", got)
			}
		})
	}
}

// Esc while the replay runs cancels its context: the run stops (as
// dlq.Run does, awaiting what is in flight) and the log says interrupted.
func TestReplayCancelledWhileRunning(t *testing.T) {
	f := replayFixture()
	m, path := actionModel(t, f)
	typeKeys(m, "R")
	_, work := m.Update(key("y"))
	if m.act == nil || m.act.phase != running || !strings.Contains(m.Content(), "Esc or Ctrl-C cancels") {
		t.Fatalf("not running:\n%s", m.Content())
	}
	typeKeys(m, "q")
	if m.quitting {
		t.Fatal("q quit while an action runs")
	}
	typeKeys(m, "esc")
	if !strings.Contains(m.Content(), "Cancelling") {
		t.Fatalf("no cancelling line:\n%s", m.Content())
	}
	for _, msg := range exec(work) {
		run(m, msg)
	}
	if !f.cancelled || m.act != nil || !strings.Contains(m.status, "cancelled") {
		t.Fatalf("cancelled %v, action %v, status %q", f.cancelled, m.act, m.status)
	}
	rs := records(t, path)
	if got := events(rs); got != "attempted confirmed cancelled" || rs[2].Result != "interrupted" || rs[2].Counts["replayed"] != 1 {
		t.Fatalf("audit %q %+v", got, rs[len(rs)-1])
	}
}

// A dry run with nothing to replay, or a failed one, opens no dialog.
func TestReplayNothingOrFailedDryRun(t *testing.T) {
	f := newFixture()
	f.plan = Plan{Read: 2, Left: 2}
	m, path := actionModel(t, f)
	typeKeys(m, "R")
	if m.act != nil || !strings.Contains(m.status, "nothing to replay in orders.DLT") {
		t.Fatalf("action %v status %q", m.act, m.status)
	}
	f.planErr = errors.New("connection refused")
	typeKeys(m, "R")
	if m.act != nil || !strings.Contains(m.status, "dry run failed: connection refused") {
		t.Fatalf("action %v status %q", m.act, m.status)
	}
	if got := events(records(t, path)); got != "attempted refused attempted failed" || len(f.replays) != 0 {
		t.Fatalf("audit %q, replays %v", got, f.replays)
	}
}

// A replay that stops at a failure is logged as partial, with counts.
func TestReplayPartial(t *testing.T) {
	f := replayFixture()
	f.replayErr = mqerr.Wrap(mqerr.Partial, errors.New("stopped at the first failure"))
	m, path := actionModel(t, f)
	typeKeys(m, "R", "y")
	rs := records(t, path)
	if got := events(rs); got != "attempted confirmed failed" || rs[2].Result != "partial" || !strings.Contains(rs[2].Error, "first failure") {
		t.Fatalf("audit %q %+v", got, rs[len(rs)-1])
	}
	if !strings.Contains(m.status, "stopped at the first failure") {
		t.Fatalf("status %q", m.status)
	}
}

// X asks for the destination's name: a wrong name purges nothing, the
// right one purges once.
func TestPurgeTypedName(t *testing.T) {
	f := newFixture()
	f.purged = 7
	m, path := actionModel(t, f)
	typeKeys(m, "X")
	screen := m.Content()
	if !strings.Contains(screen, "Deletes every dead letter orders.DLT holds now (7 at the last refresh)") || !strings.Contains(screen, "Type the name, orders.DLT,") {
		t.Fatalf("purge dialog:\n%s", screen)
	}
	checkGolden(t, "purge_confirm_80x24", screen)
	typeKeys(m, "o", "r", "d", "e", "r", "s", "enter")
	if len(f.purges) != 0 || !strings.Contains(m.status, `you typed "orders", not "orders.DLT"`) {
		t.Fatalf("a wrong name: purges %v status %q", f.purges, m.status)
	}
	typeKeys(m, "X")
	typeKeys(m, strings.Split("orders.DLX", "")...)
	run(m, tea.KeyPressMsg{Code: tea.KeyBackspace})
	typeKeys(m, "T", "enter")
	if len(f.purges) != 1 || f.purges[0] != "orders.DLT" || !strings.Contains(m.status, "purged 7 dead letters from orders.DLT") {
		t.Fatalf("purges %v status %q", f.purges, m.status)
	}
	rs := records(t, path)
	if got := events(rs); got != "attempted cancelled attempted confirmed finished" || rs[4].Counts["purged"] != 7 {
		t.Fatalf("audit %q %+v", got, rs[len(rs)-1])
	}
}

// --read-only hides the keys and refuses them; a read-only context
// refuses its own rows (and the refusal is logged); without an audit log
// nothing runs.
func TestActionsRefused(t *testing.T) {
	t.Run("flag", func(t *testing.T) {
		f := replayFixture()
		m, path := actionModel(t, f)
		m.opt.ReadOnly = true
		if strings.Contains(m.Content(), "R replay") {
			t.Fatal("read-only shows the replay key")
		}
		typeKeys(m, "R", "X")
		if f.plans != 0 || m.act != nil || !strings.Contains(m.status, "read-only") {
			t.Fatalf("plans %d action %v status %q", f.plans, m.act, m.status)
		}
		if rs := records(t, path); len(rs) != 0 {
			t.Fatalf("audit %v", rs)
		}
		typeKeys(m, "?")
		if !strings.Contains(m.Content(), "replay, purge and offsets reset are off") {
			t.Fatal("help does not say read-only")
		}
	})
	t.Run("context", func(t *testing.T) {
		f := replayFixture()
		f.readOnly = []bool{true, false}
		m, path := actionModel(t, f)
		typeKeys(m, "X")
		if m.act != nil || !strings.Contains(m.status, "context sandbox-kafka is read-only: purge of orders.DLT refused") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if rs := records(t, path); events(rs) != "refused" || rs[0].Result != "read-only context" {
			t.Fatalf("audit %+v", rs)
		}
		// The other context's rows still act.
		typeKeys(m, "down", "R")
		if m.act == nil || m.act.dest != "payments.dlq" {
			t.Fatalf("action on the writable context: %+v", m.act)
		}
	})
	t.Run("no audit log", func(t *testing.T) {
		f := replayFixture()
		m, _ := actionModel(t, f)
		m.opt.Audit = nil
		typeKeys(m, "R")
		if f.plans != 0 || m.act != nil || !strings.Contains(m.status, "every action is audited") {
			t.Fatalf("plans %d status %q", f.plans, m.status)
		}
	})
	t.Run("not a dead-letter queue", func(t *testing.T) {
		f := replayFixture()
		m, _ := actionModel(t, f)
		typeKeys(m, "2", "R")
		if f.plans != 0 || !strings.Contains(m.status, "dead letters view") {
			t.Fatalf("plans %d status %q", f.plans, m.status)
		}
	})
}

// The browser does not go on listing what a replay or purge took away: the
// action's end peeks again, as r in the browser does.
func TestBrowserPeeksAgainAfterAction(t *testing.T) {
	f := replayFixture()
	m, _ := actionModel(t, f)
	typeKeys(m, "enter")
	if m.view != Browser || f.peeks != 1 || !strings.Contains(m.Content(), "> 1 ") {
		t.Fatalf("enter: view %v, %d peeks:\n%s", m.view, f.peeks, m.Content())
	}
	typeKeys(m, "r")
	if f.peeks != 2 {
		t.Fatalf("r in the browser: %d peeks, want 2", f.peeks)
	}
	f.mu.Lock()
	f.msgs = nil // what the replay takes away
	f.mu.Unlock()
	typeKeys(m, "R", "y")
	if len(f.replays) != 1 || f.peeks != 3 || !strings.Contains(m.Content(), "(empty)") {
		t.Fatalf("after the replay: %d replays, %d peeks:\n%s", len(f.replays), f.peeks, m.Content())
	}
	typeKeys(m, "4", "r")
	if f.peeks != 3 {
		t.Errorf("r outside the browser peeked: %d peeks", f.peeks)
	}
}

// Pasted text (bracketed paste) goes where typing goes: a purge confirmed
// by pasting the name, a filter, an offsets reset's time; only its first
// line, and elsewhere it does nothing.
func TestPaste(t *testing.T) {
	f := replayFixture()
	m, _ := actionModel(t, f)
	run(m, tea.PasteMsg{Content: "X"}) // not a key: no purge dialog
	if m.act != nil {
		t.Fatal("a paste outside an input acted as keys")
	}
	typeKeys(m, "X")
	run(m, tea.PasteMsg{Content: "orders.DLT\r\nrm -rf"})
	typeKeys(m, "enter")
	if len(f.purges) != 1 || f.purges[0] != "orders.DLT" {
		t.Fatalf("purge after pasting the name: purges %v, status %q", f.purges, m.status)
	}
	typeKeys(m, "2", "/")
	run(m, tea.PasteMsg{Content: "pay"})
	if rs := m.rows(Destinations); len(rs) != 1 || rs[0].name != "payments" {
		t.Errorf("pasted filter: rows %v", rs)
	}
	typeKeys(m, "esc")
	f2 := resetFixture()
	m2, _ := resetModel(t, f2)
	typeKeys(m2, "O", "t")
	run(m2, tea.PasteMsg{Content: "90m"})
	typeKeys(m2, "enter")
	if len(f2.resetRequests) != 1 || f2.resetRequests[0].To.Time != t0.Add(-90*time.Minute) {
		t.Errorf("pasted time: requests %+v, dialog:\n%s", f2.resetRequests, m2.Content())
	}
}
