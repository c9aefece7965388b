package output

import "testing"

func TestTerminalSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"日本語 ok", "日本語 ok"},
		{"two\nlines\r\tand tab", `two\nlines\r\tand tab`},
		{"\x1b[2Jcleared", `\x1b[2Jcleared`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
		{"\x1b[31;1", `\x1b[31;1`},
		{"bell\x07 del\x7f", `bell\x07 del\x7f`},
		{"c1 \u009b2J", `c1 \u009b2J`},
		{"bad \xff utf8", "bad \ufffd utf8"},
	} {
		if got := TerminalSafe(tc.in); got != tc.want {
			t.Errorf("TerminalSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// On a terminal, columns line up by what the eye sees: wide characters
// take two columns and colour sequences none; a cell's escape sequences
// are shown, not run.
func TestTTYTableWideColouredAndHostile(t *testing.T) {
	s, out, _ := Test()
	s.OutTTY = true
	err := PrintTable(s, Table{Header: []string{"NAME", "STATUS", "VALUE"}, Rows: [][]string{
		{"日本", "\x1b[32mOK\x1b[0m", "\x1b[2J"},
		{"longer-name", "STALL", "x"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// 日本 is four columns wide, the colour sequences none; the last
	// column is not padded.
	want := "NAME         STATUS  VALUE\n" +
		"日本         \x1b[32mOK\x1b[0m      \\x1b[2J\n" +
		"longer-name  STALL   x\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}
