package output

import (
	"strings"
	"testing"
)

// hostile are data that would act on a terminal if shown raw, each with
// how TerminalSafe shows it.
var hostile = []struct{ name, in, want string }{
	{"plain", "plain text", "plain text"},
	{"wide", "日本語 ok 🙂", "日本語 ok 🙂"},
	{"tab newline", "two\nlines\r\tand tab", `two\nlines\r\tand tab`},
	{"CSI clear", "\x1b[2Jcleared", `\x1b[2Jcleared`},
	{"SGR conceal", "\x1b[8mhidden", `\x1b[8mhidden`},
	{"SGR black on black", "\x1b[30;40mdark\x1b[0m", `\x1b[30;40mdark\x1b[0m`},
	{"SGR red", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
	{"OSC title", "\x1b]0;title\x07", `\x1b]0;title\x07`},
	{"OSC 52", "\x1b]52;c;cm0gLXJmIC8K\x07", `\x1b]52;c;cm0gLXJmIC8K\x07`},
	{"OSC 8", "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", `\x1b]8;;http://evil\x1b\click\x1b]8;;\x1b\`},
	{"DCS", "\x1bP1$qm\x1b\\", `\x1bP1$qm\x1b\`},
	{"C1 CSI", "c1 \u009b2J", `c1 \u009b2J`},
	{"C1 OSC", "\u009d52;c;x\u009c", `\u009d52;c;x\u009c`},
	{"bidi override", "abc\u202edcba", `abc\u202edcba`},
	{"bidi isolate", "\u2066x\u2069 \u202a\u202b\u202c\u202d", `\u2066x\u2069 \u202a\u202b\u202c\u202d`},
	{"bell del", "bell\x07 del\x7f", `bell\x07 del\x7f`},
	{"invisible", "orders\u200b.dlq \ufeff\u00ad\U000E0041x\u2060\u3164 a\u200db", `orders\u200b.dlq \ufeff\u00ad\U000e0041x\u2060\u3164 a` + "\u200d" + `b`},
	{"invalid utf8", "bad \xff\xfe utf8", `bad \xff\xfe utf8`},
	{"long", strings.Repeat("\x1b[2J", 5000), strings.Repeat(`\x1b[2J`, 5000)},
}

func TestTerminalSafe(t *testing.T) {
	for _, tc := range hostile {
		if got := TerminalSafe(tc.in); got != tc.want {
			t.Errorf("%s: TerminalSafe(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
		if got := TerminalSafe(tc.want); got != tc.want {
			t.Errorf("%s: TerminalSafe is not idempotent: %q", tc.name, got)
		}
		assertInert(t, tc.name, TerminalSafe(tc.in))
	}
}

// assertInert fails when s holds anything a terminal would act on.
func assertInert(t *testing.T, name, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 && r != '\n' || unsafeRune(r) {
			t.Errorf("%s: %U reached the terminal raw in %q", name, r, s)
			return
		}
	}
}

func TestTSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"a\tb":                `a\tb`,
		"two\r\nlines":        `two\r\nlines`,
		`back\slash\t`:        `back\\slash\\t`,
		"\x1b[2J日本\u202e\xff": `\x1b[2J日本\u202e\xff`,
		"a\\x1b":              `a\\x1b`,
	} {
		if got := TSVCell(in); got != want {
			t.Errorf("TSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// In a pipe a row stays one line and a cell one field, whatever it holds.
func TestPipeTableEscapesTSV(t *testing.T) {
	s, out, _ := Test()
	if err := PrintTable(s, Table{Header: []string{"K", "V"}, Rows: [][]string{{"a\tb", "line1\nline2\r"}, {`c\d`, "x"}}}); err != nil {
		t.Fatal(err)
	}
	want := "K\tV\n" + `a\tb` + "\t" + `line1\nline2\r` + "\n" + `c\\d` + "\tx\n"
	if out.String() != want {
		t.Errorf("got %q want %q", out.String(), want)
	}
}

// Every hostile cell in a terminal table shows escaped, in TTY tables
// both plain and fitted.
func TestTTYTableHostile(t *testing.T) {
	tab := Table{Header: []string{"NAME", "VALUE"}}
	for _, tc := range hostile {
		tab.Rows = append(tab.Rows, []string{tc.name, tc.in})
	}
	for _, fit := range []bool{false, true} {
		s, out, _ := Test()
		s.OutTTY = true
		tt := tab
		if fit {
			tt, _ = FitTable(tab, Fit{Width: 60, Shorten: []int{1}})
		}
		if err := PrintTable(s, tt); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(out.String(), 0x1b) {
			t.Errorf("fit=%v: ESC reached the terminal: %q", fit, out.String())
		}
		assertInert(t, "table", out.String())
	}
}

// On a terminal, columns line up by what the eye sees: wide characters
// take two columns and mqctl's colours none; a cell's escape sequences
// are shown, not run, and its colour comes from Colors only.
func TestTTYTableWideColouredAndHostile(t *testing.T) {
	s, out, _ := Test()
	s.OutTTY, s.Color = true, true
	err := PrintTable(s, Table{Header: []string{"NAME", "STATUS", "VALUE"}, Rows: [][]string{
		{"日本", "OK", "\x1b[2J"},
		{"longer-name", "\x1b[32mSTALL", "x"},
	}, Colors: [][]string{{"", "32", ""}, {"", "", ""}}})
	if err != nil {
		t.Fatal(err)
	}
	// What the eye sees (tablewriter may add a redundant reset after a
	// coloured cell's padding; it takes no column).
	want := "NAME         STATUS         VALUE\n" +
		"日本         OK             \\x1b[2J\n" +
		"longer-name  \\x1b[32mSTALL  x\n"
	if got := stripSGR(out.String()); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if !strings.Contains(out.String(), "\x1b[32mOK\x1b[0m") {
		t.Errorf("the OK status is not green: %q", out.String())
	}
	if n := strings.Count(out.String(), "\x1b["); n != strings.Count(out.String(), "\x1b[32m")+strings.Count(out.String(), "\x1b[0m") {
		t.Errorf("an escape sequence other than ours was written: %q", out.String())
	}
}

// stripSGR drops mqctl's colour sequences (ESC [ digits/; m).
func stripSGR(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// A colour that is not SGR parameters is not written.
func TestTableColorsOnlySGR(t *testing.T) {
	s, out, _ := Test()
	s.OutTTY, s.Color = true, true
	if err := PrintTable(s, Table{Header: []string{"A"}, Rows: [][]string{{"x"}}, Colors: [][]string{{"2J\x1b[31"}}}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "A\nx\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestErrLineEscapes(t *testing.T) {
	for _, tc := range hostile {
		var b strings.Builder
		ErrLine(&b, "warning: ", tc.in)
		got := b.String()
		if strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "mqctl: warning: ") {
			t.Errorf("%s: not one line: %q", tc.name, got)
		}
		assertInert(t, tc.name, got)
	}
}

// NO_COLOR (Streams.Color off) leaves a terminal table without colours.
func TestTableNoColor(t *testing.T) {
	s, out, _ := Test()
	s.OutTTY = true
	if err := PrintTable(s, Table{Header: []string{"A", "STATUS"}, Rows: [][]string{{"x", "OK"}}, Colors: [][]string{{"", "32"}}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("colour written with Color off: %q", out.String())
	}
}
