package tui

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/mattn/go-runewidth"

	"github.com/mqctl/mqctl/internal/output"
)

// hostileName is a destination or group name as a broker may hold it: a
// clear-screen and a colour (CSI), a window title (OSC ending in BEL), a
// carriage return, a tab, wide CJK, a zero-width space, an invalid byte, a
// bidi override and a C1 CSI, and long enough to need more than one line
// once escaped.
const hostileName = "dlq\x1b[2J\x1b[31mred\x1b]0;pwned\x07\rover\ttab" +
	"死信キュー死信キュー\u200bzw\xffbad\u202eevil\u009b31m" +
	"-orders-payments-shipping-billing-inventory-notifications.DLT"

// checkScreen fails unless screen is exactly h lines of at most w columns
// with no byte that acts on a terminal (only the newlines between lines).
func checkScreen(t *testing.T, what, screen string, w, h int) {
	t.Helper()
	if !utf8.ValidString(screen) {
		t.Errorf("%s: invalid UTF-8 reached the screen: %q", what, screen)
	}
	for _, r := range screen {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e) {
			t.Fatalf("%s: raw control %U on the screen:\n%q", what, r, screen)
		}
	}
	ls := strings.Split(screen, "\n")
	if len(ls) != h {
		t.Errorf("%s: %d lines, want %d:\n%s", what, len(ls), h, screen)
	}
	for i, l := range ls {
		if n := runewidth.StringWidth(l); n > w {
			t.Errorf("%s: line %d is %d columns, over %d: %q", what, i, n, w, l)
		}
	}
}

// unwrapped is s without its spaces and line breaks: a name the dialog
// wrapped, at a space or inside it, is whole in it.
func unwrapped(s string) string { return strings.NewReplacer(" ", "", "\n", "").Replace(s) }

// A dialog about a destination or group with hostile bytes in its name is
// made safe first and wrapped after, at 80x24 and narrower: every line
// fits, nothing raw reaches the terminal, and the name is shown whole
// (escaped), not cut where the raw name would have ended.
func TestDialogsHostileName(t *testing.T) {
	safe := output.TerminalSafe(hostileName)
	if runewidth.StringWidth(safe) <= 80 {
		t.Fatalf("the escaped name is %d columns: it should need more than one line", runewidth.StringWidth(safe))
	}
	for _, size := range [][2]int{{80, 24}, {60, 20}} {
		w, h := size[0], size[1]
		steps := []struct {
			name string
			keys []string
			want string // on the screen, unwrapped
		}{
			{"replay", []string{"R"}, "Replay 6 dead letters of " + safe + "(sandbox-kafka)"},
			{"purge", []string{"X"}, "Type the name," + safe + ", and Enter to purge"},
			{"purge typed", []string{"X", "a", "b"}, "> ab█"},
			{"reset choose", []string{"3", "O"}, "Reset the offsets of group " + safe + " on " + safe + "(sandbox-kafka)"},
			{"reset typing", []string{"3", "O", "t", "1", "h"}, "> 1h█"},
			{"reset confirm", []string{"3", "O", "e"}, "' --to earliest --execute does; refused if a member joins first."},
		}
		for _, s := range steps {
			t.Run(fmt.Sprintf("%s_%dx%d", s.name, w, h), func(t *testing.T) {
				f := replayFixture()
				f.snaps[0].DeadLetters[0].Name = hostileName
				f.snaps[0].Lag[0].Group = hostileName
				f.snaps[0].Lag[0].Topic = hostileName
				f.plan.To = map[string]int64{hostileName: 4, "payments": 2}
				f.resetPlan = resetFixture().resetPlan
				for j := range f.resetPlan.Rows {
					f.resetPlan.Rows[j].Topic = hostileName
				}
				m, _ := actionModel(t, f)
				run(m, tea.WindowSizeMsg{Width: w, Height: h})
				typeKeys(m, s.keys...)
				if m.act == nil {
					t.Fatalf("no dialog after %v: status %q", s.keys, m.status)
				}
				screen := m.View().Content // what the program draws
				checkScreen(t, s.name, screen, w, h)
				if !strings.Contains(unwrapped(screen), unwrapped(s.want)) {
					t.Errorf("the dialog lacks %q whole:\n%s", s.want, screen)
				}
				if w == 80 {
					checkGolden(t, "hostile_"+strings.ReplaceAll(s.name, " ", "_")+"_80x24", screen)
				}
			})
		}
	}
}

// Wrapping after escaping: a line breaks at the last space that fits, a
// word longer than a line is cut where it reaches the width (a wide
// character is two columns and never split), and the indent of a line is
// kept on its continuations.
func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want []string
	}{
		{"fits as it is,  spaces kept", 40, []string{"fits as it is,  spaces kept"}},
		{"one two three four", 9, []string{"one two", "three", "four"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"死信キュー", 5, []string{"死信", "キュ", "ー"}},
		{"    6 → a-long-destination", 12, []string{"    6 →", "    a-long-d", "    estinati", "    on"}},
		{"ab\u200bcd", 2, []string{"ab\u200b", "cd"}},
	} {
		got := wrap(tc.in, tc.w)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
		}
		for _, l := range got {
			if runewidth.StringWidth(l) > tc.w {
				t.Errorf("wrap(%q, %d): %q is wider", tc.in, tc.w, l)
			}
		}
	}
	// Escaping comes first: a tab is not a place to break, and the escape
	// of a control byte is never split from what it stands for by a space.
	if got := wrapSafe("a\tb\x1bc", 80); len(got) != 1 || got[0] != `a\tb\x1bc` {
		t.Errorf("wrapSafe: %q", got)
	}
}

// A purge of a destination whose name holds a control byte is confirmed by
// typing the name as the dialog shows it (escaped), and purges the
// broker's name; any other text still cancels.
func TestPurgeTypedEscapedName(t *testing.T) {
	for _, tc := range []struct {
		typed  string
		purged bool
	}{{`bad\x1bname.DLT`, true}, {"bad name.DLT", false}} {
		f := newFixture()
		f.snaps[0].DeadLetters[0].Name = "bad\x1bname.DLT"
		m, _ := actionModel(t, f)
		typeKeys(m, "X")
		for _, r := range tc.typed {
			typeKeys(m, string(r))
		}
		typeKeys(m, "enter")
		if got := len(f.purges) == 1 && f.purges[0] == "bad\x1bname.DLT"; got != tc.purged {
			t.Errorf("typed %q: purges %q, want purged %v (status %q)", tc.typed, f.purges, tc.purged, m.status)
		}
	}
}

// The offsets-reset dialog at 60x20: a target's description wraps under
// itself, and the plan's table is as wide as its cells, header and rows
// on one line each.
func TestResetDialogNarrow(t *testing.T) {
	f := resetFixture()
	m, _ := resetModel(t, f)
	run(m, tea.WindowSizeMsg{Width: 60, Height: 20})
	typeKeys(m, "O")
	screen := m.Content()
	checkScreen(t, "choose", screen, 60, 20)
	if !strings.Contains(screen, "> e  earliest  the first message still held: all of it is\n               read again\n") {
		t.Errorf("a target's description does not hang under itself:\n%s", screen)
	}
	typeKeys(m, "e")
	screen = m.Content()
	checkScreen(t, "plan", screen, 60, 20)
	for _, want := range []string{"  PARTITION CURRENT   NEW WHAT IT DOES           LAG AFTER\n", "  orders/1      350 → 120 reads 230 again        280\n"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the plan lacks %q:\n%s", want, screen)
		}
	}
}

// After an action on a destination with a long hostile name, the status
// line still says what it did: the name is cut, not the counts.
func TestStatusShowsCountsPastLongName(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"R", "y"}, "read 7, replayed 6"},
		{[]string{"X", "x", "enter"}, `purge not confirmed, nothing was changed: you typed "x", not "dlq`},
	} {
		f := replayFixture()
		f.snaps[0].DeadLetters[0].Name = hostileName
		m, _ := actionModel(t, f)
		typeKeys(m, tc.keys...)
		screen := m.Content()
		checkScreen(t, "status", screen, 80, 24)
		ls := strings.Split(screen, "\n")
		if st := ls[len(ls)-2]; !strings.Contains(st, tc.want) {
			t.Errorf("%v: the status line lacks %q: %q", tc.keys, tc.want, st)
		}
	}
}

// Every screen, at any size from tiny to wide, is exactly the terminal's
// lines, none wider than it, with nothing raw from the data: views, the
// browser, help and each dialog, over names full of hostile bytes.
func TestEveryScreenFitsEverySize(t *testing.T) {
	screens := map[string][]string{
		"overview": {"1"}, "destinations": {"2"}, "consumers": {"3"}, "deadletters": {"4"}, "browser": {"4", "enter"},
		"help": {"?"}, "replay": {"4", "R"}, "purge": {"4", "X", "a"}, "reset choose": {"3", "O"}, "reset time": {"3", "O", "t"},
		"reset confirm": {"3", "O", "e"}, "detail": {"3", "enter"}, "detail reset": {"3", "enter", "O"},
		"help scrolled": {"?", "space", "j"}, "paused": {"p"},
	}
	for _, w := range []int{20, 33, 47, 60, 80, 119} {
		for _, h := range []int{5, 8, 12, 20, 24} {
			for name, keys := range screens {
				f := replayFixture()
				f.snaps[0].DeadLetters[0].Name = hostileName
				f.snaps[0].Lag[0].Group = hostileName
				f.resetPlan = resetFixture().resetPlan
				f.resetPlan.Rows[0].Topic = hostileName
				m, _ := actionModel(t, f)
				run(m, tea.WindowSizeMsg{Width: w, Height: h})
				typeKeys(m, "1")
				typeKeys(m, keys...)
				// The screen is never narrower than 20 columns (Content's floor).
				checkScreen(t, fmt.Sprintf("%s at %dx%d", name, w, h), m.View().Content, max(w, 20), h)
			}
		}
	}
}
