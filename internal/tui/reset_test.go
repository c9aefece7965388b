package tui

import (
	"fmt"
	oexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/output"
)

// The UI logic of O on a data fixture; internal/tui/source's reset tests
// drive the same keys against kfake and JetStream.

func i64(n int64) *int64 { return &n }

// resetFixture's plan is billing on orders to its log start: two
// partitions read again, one without an offset yet.
func resetFixture() *fixture {
	f := newFixture()
	f.resetPlan = offsets.Plan{Action: "commit the new offsets for group billing", Partitioned: true, Rows: []offsets.Row{
		{Topic: "orders", Partition: 0, Current: i64(10), New: 0, Change: i64(-10), LagAfter: 410, HighWatermark: 410},
		{Topic: "orders", Partition: 1, Current: i64(350), New: 120, Change: i64(-230), LagAfter: 280, LogStart: 120, HighWatermark: 400},
		{Topic: "orders", Partition: 2, New: 0, LagAfter: 390, HighWatermark: 390},
	}}
	return f
}

// resetModel is actionModel on the consumers view: billing's row is
// selected (the rows sort by context, then as read).
func resetModel(t *testing.T, f *fixture) (*Model, string) {
	t.Helper()
	m, path := actionModel(t, f)
	typeKeys(m, "3")
	return m, path
}

// O, e: a dry run of billing on orders to earliest, a confirmation that
// says per partition what changes, y applies that plan once, the status
// says what it did, the context is read again, every step is audited.
func TestResetConfirmed(t *testing.T) {
	f := resetFixture()
	m, path := resetModel(t, f)
	if !strings.Contains(m.Content(), "O reset") {
		t.Fatalf("the consumers footer lacks O reset:\n%s", m.Content())
	}
	typeKeys(m, "O")
	screen := m.Content()
	for _, want := range []string{"Reset the offsets of group billing on orders (sandbox-kafka)", "> e  earliest", "t  a time", "s  shift=N", "Esc cancel"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the target dialog lacks %q:\n%s", want, screen)
		}
	}
	if len(f.resetRequests) != 0 {
		t.Fatal("planned before a target was chosen")
	}
	reads := f.reads[0]
	typeKeys(m, "e")
	if len(f.resetRequests) != 1 || m.act == nil || m.act.phase != confirming {
		t.Fatalf("e: requests %v, action %+v", f.resetRequests, m.act)
	}
	req := f.resetRequests[0]
	if req.Group != "billing" || len(req.Topics) != 1 || req.Topics[0].Name != "orders" || req.Topics[0].Partitions != nil || req.To.Kind != offsets.Earliest {
		t.Fatalf("request %+v, want billing on every partition of orders to earliest", req)
	}
	screen = m.Content()
	for _, want := range []string{"to earliest:", "orders/0", "10 → 0", "reads 10 again", "orders/1", "350 → 120", "reads 230 again",
		"orders/2", "- → 0", "starts here (had none)", "In all: 240 messages read again on 2 partitions; 1 partition had no offset and",
		"gets one; lag after 1080.", "y will commit the new offsets for group billing", "mqctl offsets reset billing", "--topic orders --to earliest --execute", "y reset"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, screen)
		}
	}
	checkGolden(t, "reset_confirm_80x24", screen)
	if len(f.resets) != 0 {
		t.Fatal("applied before y")
	}
	typeKeys(m, "y")
	if len(f.resets) != 1 || f.resets[0].To != "earliest" || len(f.resets[0].Rows) != 3 || f.resets[0].Rows[1].New != 120 {
		t.Fatalf("applied %+v, want the plan shown", f.resets)
	}
	if m.act != nil || !strings.Contains(m.status, "reset group billing on orders to earliest: 240 messages read again on 2 partitions") {
		t.Fatalf("after y: action %v, status %q", m.act, m.status)
	}
	if f.reads[0] != reads+1 {
		t.Errorf("the context was not read again after the reset (%d reads, want %d)", f.reads[0], reads+1)
	}
	rs := records(t, path)
	if got := events(rs); got != "attempted confirmed finished" {
		t.Fatalf("audit events %q", got)
	}
	if a := rs[0]; a.Action != "offsets reset" || a.Group != "billing" || a.Destination != "orders" || a.To != "" || a.Counts["lag"] != 400 {
		t.Errorf("attempted record %+v", a)
	}
	last := rs[2]
	if last.Context != "sandbox-kafka" || last.Broker != "kafka" || last.Action != "offsets reset" || last.Group != "billing" ||
		last.Destination != "orders" || last.To != "earliest" || last.Via != "top" || last.Result != "ok" || last.ID != rs[0].ID ||
		last.Counts["replay"] != 240 || last.Counts["skip"] != 0 || last.Counts["partitions"] != 3 || last.Counts["new"] != 1 || last.Counts["lag_after"] != 1080 {
		t.Errorf("finished record %+v", last)
	}
}

// Each target as keys choose it, and a typed value that is wrong stays in
// the dialog with what is wrong, planning nothing.
func TestResetTargets(t *testing.T) {
	cases := []struct {
		keys []string
		want offsets.To
	}{
		{[]string{"l"}, offsets.To{Kind: offsets.Latest}},
		{[]string{"down", "enter"}, offsets.To{Kind: offsets.Latest}},
		{[]string{"t", "1", "h", "enter"}, offsets.To{Kind: offsets.AtTime, Time: t0.Add(-time.Hour)}},
		{append([]string{"down", "down", "enter"}, append(strings.Split("2026-12-05T10:00:00Z", ""), "enter")...),
			offsets.To{Kind: offsets.AtTime, Time: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}},
		{[]string{"s", "-", "1", "0", "0", "enter"}, offsets.To{Kind: offsets.Shift, N: -100}},
		{[]string{"s", "+", "5", "enter"}, offsets.To{Kind: offsets.Shift, N: 5}},
		{[]string{"j", "j", "j", "j", "k", "k", "enter"}, offsets.To{Kind: offsets.Latest}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.keys, ""), func(t *testing.T) {
			f := resetFixture()
			m, _ := resetModel(t, f)
			typeKeys(m, "O")
			typeKeys(m, tc.keys...)
			if len(f.resetRequests) != 1 {
				t.Fatalf("%d dry runs:\n%s", len(f.resetRequests), m.Content())
			}
			if got := f.resetRequests[0].To; got.Kind != tc.want.Kind || got.N != tc.want.N || !got.Time.Equal(tc.want.Time) {
				t.Errorf("to %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("bad values", func(t *testing.T) {
		f := resetFixture()
		m, _ := resetModel(t, f)
		typeKeys(m, "O", "t", "y", "e", "s", "enter")
		if len(f.resetRequests) != 0 || m.act == nil || !strings.Contains(m.Content(), `"yes" is not a time`) {
			t.Fatalf("a bad time: requests %v\n%s", f.resetRequests, m.Content())
		}
		typeKeys(m, "esc")
		typeKeys(m, "O", "s", "0", "enter")
		if len(f.resetRequests) != 0 || !strings.Contains(m.Content(), `"0" is not a whole number other than 0`) {
			t.Fatalf("shift=0: requests %v\n%s", f.resetRequests, m.Content())
		}
		// Fixed in place, it plans.
		typeKeys(m, "backspace", "3", "enter")
		if len(f.resetRequests) != 1 || f.resetRequests[0].To.N != 3 {
			t.Fatalf("after the fix: requests %v\n%s", f.resetRequests, m.Content())
		}
	})
}

// Esc (or n, q, Ctrl-C) cancels at every step before y: nothing is
// applied, the program keeps running, and the log says so.
func TestResetCancelled(t *testing.T) {
	cases := map[string][]string{
		"esc in the menu":    {"O", "esc"},
		"q in the menu":      {"O", "q"},
		"ctrl+c in the menu": {"O", "ctrl+c"},
		"esc while typing":   {"O", "t", "1", "esc"},
		"esc at the plan":    {"O", "e", "esc"},
		"n at the plan":      {"O", "l", "n"},
		"enter at the plan":  {"O", "l", "enter"},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			f := resetFixture()
			m, path := resetModel(t, f)
			typeKeys(m, keys...)
			if len(f.resets) != 0 || m.act != nil || m.quitting || !strings.Contains(m.status, "offsets reset cancelled: nothing was changed") {
				t.Fatalf("resets %v, action %v, quitting %v, status %q", f.resets, m.act, m.quitting, m.status)
			}
			if got := events(records(t, path)); got != "attempted cancelled" {
				t.Errorf("audit events %q", got)
			}
		})
	}
	t.Run("esc during the dry run", func(t *testing.T) {
		f := resetFixture()
		m, path := resetModel(t, f)
		typeKeys(m, "O")
		_, plan := m.Update(key("e"))
		if !strings.Contains(m.Content(), "Dry run: reading the group's positions") {
			t.Fatalf("no dry-run line:\n%s", m.Content())
		}
		typeKeys(m, "esc")
		for _, msg := range exec(plan) {
			run(m, msg) // the late plan finds no action
		}
		if m.act != nil || len(f.resets) != 0 || !strings.Contains(m.status, "offsets reset cancelled") {
			t.Fatalf("action %v resets %v status %q", m.act, f.resets, m.status)
		}
		if got := events(records(t, path)); got != "attempted cancelled" {
			t.Errorf("audit events %q", got)
		}
	})
}

// A group with live members is refused after the dry run (which counts
// them), with how many; so is a plan that changes nothing, a failed dry
// run, and a failed apply says why.
func TestResetRefusedOrFailed(t *testing.T) {
	t.Run("live members", func(t *testing.T) {
		f := resetFixture()
		f.resetPlan.Members = 2
		m, path := resetModel(t, f)
		typeKeys(m, "O", "e")
		if m.act != nil || len(f.resets) != 0 || !strings.Contains(m.status, "offsets reset refused: group billing has 2 live members; stop its consumers first") {
			t.Fatalf("action %v resets %v status %q", m.act, f.resets, m.status)
		}
		rs := records(t, path)
		if events(rs) != "attempted refused" || rs[1].Result != "live members" || rs[1].Counts["members"] != 2 || rs[1].To != "earliest" ||
			!strings.Contains(rs[1].Error, "group billing has 2 live members") {
			t.Fatalf("audit %+v", rs)
		}
	})
	t.Run("nothing to change", func(t *testing.T) {
		f := resetFixture()
		f.resetPlan.Rows = []offsets.Row{{Topic: "orders", Partition: 0, Current: i64(410), New: 410, Change: i64(0), HighWatermark: 410}}
		m, path := resetModel(t, f)
		typeKeys(m, "O", "l")
		if m.act != nil || !strings.Contains(m.status, "nothing to change: group billing on orders is at latest already") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if got := events(records(t, path)); got != "attempted refused" {
			t.Fatalf("audit %q", got)
		}
	})
	t.Run("dry run failed", func(t *testing.T) {
		f := resetFixture()
		f.resetPlanErr = mqerr.New(mqerr.NotFound, "topic orders has no partition 7")
		m, path := resetModel(t, f)
		typeKeys(m, "O", "e")
		if m.act != nil || !strings.Contains(m.status, "offsets reset of group billing on orders: the dry run failed: topic orders has no partition 7") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if got := events(records(t, path)); got != "attempted failed" {
			t.Fatalf("audit %q", got)
		}
	})
	t.Run("apply failed", func(t *testing.T) {
		f := resetFixture()
		f.resetErr = broker.LiveMembers("billing", 1)
		m, path := resetModel(t, f)
		typeKeys(m, "O", "e", "y")
		if m.act != nil || !strings.Contains(m.status, "offsets reset of group billing on orders failed: group billing has 1 live member") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		rs := records(t, path)
		if events(rs) != "attempted confirmed failed" || rs[2].Result != "failed" || !strings.Contains(rs[2].Error, "1 live member") {
			t.Fatalf("audit %+v", rs)
		}
	})
}

// --read-only hides O and refuses it; a read-only context refuses its own
// rows (logged); a queue has no position; O acts on the consumers view
// only; without an audit log nothing runs.
func TestResetRefused(t *testing.T) {
	t.Run("flag", func(t *testing.T) {
		f := resetFixture()
		m, path := resetModel(t, f)
		m.opt.ReadOnly = true
		if strings.Contains(m.Content(), "O reset") {
			t.Fatal("read-only shows the reset key")
		}
		typeKeys(m, "O")
		if m.act != nil || len(f.resetRequests) != 0 || !strings.Contains(m.status, "read-only (--read-only): offsets reset is refused") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if rs := records(t, path); len(rs) != 0 {
			t.Fatalf("audit %v", rs)
		}
		typeKeys(m, "?")
		if h := m.Content(); strings.Contains(h, "  O  ") || !strings.Contains(h, "replay, purge and offsets reset are off") {
			t.Fatalf("read-only help:\n%s", h)
		}
	})
	t.Run("help", func(t *testing.T) {
		f := resetFixture()
		m, _ := resetModel(t, f)
		m.height = 40
		typeKeys(m, "?")
		if h := m.Content(); !strings.Contains(h, "reset a consumer group's offsets") {
			t.Fatalf("help lacks O:\n%s", h)
		}
	})
	t.Run("context", func(t *testing.T) {
		f := resetFixture()
		f.readOnly = []bool{true, false}
		m, path := resetModel(t, f)
		typeKeys(m, "O")
		if m.act != nil || !strings.Contains(m.status, "context sandbox-kafka is read-only: offsets reset of group billing on orders refused") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if rs := records(t, path); events(rs) != "refused" || rs[0].Result != "read-only context" || rs[0].Group != "billing" {
			t.Fatalf("audit %+v", rs)
		}
	})
	t.Run("queue", func(t *testing.T) {
		f := resetFixture()
		m, path := resetModel(t, f)
		typeKeys(m, "G", "O")
		if m.act != nil || !strings.Contains(m.status, "payments is a queue: a queue keeps no consumer position") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
		if rs := records(t, path); len(rs) != 0 {
			t.Fatalf("audit %v", rs)
		}
	})
	t.Run("not the consumers view", func(t *testing.T) {
		f := resetFixture()
		m, _ := resetModel(t, f)
		typeKeys(m, "2", "O")
		if m.act != nil || !strings.Contains(m.status, "select one in the consumers view (3)") || strings.Contains(m.Content(), "O reset  ") {
			t.Fatalf("action %v status %q\n%s", m.act, m.status, m.Content())
		}
	})
	t.Run("no audit log", func(t *testing.T) {
		f := resetFixture()
		m, _ := resetModel(t, f)
		m.opt.Audit = nil
		typeKeys(m, "O")
		if m.act != nil || !strings.Contains(m.status, "every action is audited") {
			t.Fatalf("action %v status %q", m.act, m.status)
		}
	})
}

// A plan longer than the screen shows the rows that fit and counts the
// rest: the screen stays 24 lines, the summary and keys on it.
func TestResetManyPartitions(t *testing.T) {
	f := resetFixture()
	f.resetPlan.Rows = nil
	for p := range int32(50) {
		f.resetPlan.Rows = append(f.resetPlan.Rows, offsets.Row{Topic: "orders", Partition: p, Current: i64(100), New: 90, Change: i64(-10), LagAfter: 10,
			Clamped: "log start"})
	}
	m, _ := resetModel(t, f)
	typeKeys(m, "O", "e")
	screen := m.Content()
	if n := strings.Count(screen, "\n") + 1; n != 24 {
		t.Fatalf("%d lines:\n%s", n, screen)
	}
	for _, want := range []string{"orders/0 ", "more (mqctl offsets reset without --execute lists them all)",
		"In all: 500 messages read again on 50 partitions; lag after 500.", "50 clamped to [log start, high watermark]", "y reset  n/Esc cancel"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, screen)
		}
	}
	shown := strings.Count(screen, "reads 10 again")
	if !strings.Contains(screen, fmt.Sprintf("… and %d more", 50-shown)) || shown < 5 {
		t.Errorf("%d rows shown, and the rest not counted:\n%s", shown, screen)
	}
}

// Names from the broker reach the dialogs and the status escaped.
func TestResetSanitised(t *testing.T) {
	f := resetFixture()
	evil := "bill\x1b[2J\u202eing"
	f.snaps[0].Lag[0].Group = evil
	f.resetPlan.Action = "commit for \x1b]0;owned\x07 group"
	f.resetPlan.Rows[0].Topic = "ord\x1b[31mers"
	m, _ := resetModel(t, f)
	typeKeys(m, "O")
	for _, step := range []string{"menu", "plan"} {
		screen := m.Content()
		if strings.ContainsAny(screen, "\x1b\x07\u202e") {
			t.Fatalf("%s: raw control bytes on screen: %q", step, screen)
		}
		if !strings.Contains(screen, `bill\x1b[2J`) {
			t.Fatalf("%s: the group is not shown escaped:\n%s", step, screen)
		}
		typeKeys(m, "e")
	}
	if f.resetRequests[0].Group != evil {
		t.Fatalf("the request's group %q is not the broker's %q", f.resetRequests[0].Group, evil)
	}
	typeKeys(m, "y")
	if strings.ContainsAny(m.Content(), "\x1b\x07\u202e") {
		t.Fatalf("raw control bytes in the status: %q", m.Content())
	}
}

// The command a reset dialog suggests names the same group when pasted
// into bash, and holds no whitespace the dialog's wrap could split or
// rewrite.
func TestShellWord(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"billing", "billing"},
		{"it's", `'it'\''s'`},
		{"a\tb", `$'a\x09b'`},
		{"a b", `$'a\x20b'`},
		{"x\x1b[2Jy", `$'x\x1b[2Jy'`},
		{"bad\xffbyte", `$'bad\xffbyte'`},
		{"rtl\u202eevil", `$'rtl\u202eevil'`},
		{"q'\\\n", `$'q\'\\\x0a'`},
	} {
		got := output.ShellWord(tc.in)
		if got != tc.want {
			t.Errorf("output.ShellWord(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if ws := wrap("--group "+got+" --execute", 20); strings.Join(ws, " ") != "--group "+got+" --execute" {
			t.Errorf("wrap changed %s: %q", got, ws)
		}
	}
	// bash reads the quoted word back as the name.
	if _, err := oexec.LookPath("bash"); err == nil {
		for _, name := range []string{"a\tb", "a b", "it's", "x\x1b[2Jy", "q'\\\n", "bad\xffbyte"} {
			out, err := oexec.Command("bash", "-c", "printf %s "+output.ShellWord(name)).Output()
			if err != nil || string(out) != name {
				t.Errorf("bash read %s as %q (%v), want %q", output.ShellWord(name), out, err, name)
			}
		}
	}
}
