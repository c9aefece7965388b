package output

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// PrintTable renders a borderless aligned table on a terminal and plain
// tab-separated lines (header first) in a pipe, so scripts can cut and awk.
//
// On a terminal each cell is made safe to show first (see TerminalSafe):
// tables carry message keys, values and broker error text, and a dead
// letter holding escape sequences must not be able to clear or rewrite
// the on-call engineer's screen.
func PrintTable(s *Streams, t Table) error {
	if !s.OutTTY {
		var b strings.Builder
		b.WriteString(strings.Join(t.Header, "\t"))
		b.WriteByte('\n')
		for _, r := range t.Rows {
			b.WriteString(strings.Join(r, "\t"))
			b.WriteByte('\n')
		}
		_, err := io.WriteString(s.Out, b.String())
		return err
	}
	lines := make([][]string, 0, len(t.Rows)+1)
	var widths []int
	for _, r := range append([][]string{t.Header}, t.Rows...) {
		line := make([]string, len(r))
		for j, c := range r {
			line[j] = TerminalSafe(c)
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], displayWidth(line[j]))
		}
		lines = append(lines, line)
	}
	var b, l strings.Builder
	for _, line := range lines {
		l.Reset()
		for j, c := range line {
			l.WriteString(c)
			if j < len(line)-1 {
				l.WriteString(strings.Repeat(" ", widths[j]-displayWidth(c)+2))
			}
		}
		if t.Width > 0 {
			b.WriteString(cutLine(l.String(), t.Width))
		} else {
			b.WriteString(l.String())
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(s.Out, b.String())
	return err
}

// TerminalSafe returns s with every control character written out as an
// escape (\n, \r, \t, \x1b, \u009b, ...), except colour sequences
// (ESC [ digits and semicolons m), which only change how text looks and
// which the table's own status colours use. Invalid UTF-8 is shown as
// U+FFFD.
func TerminalSafe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		case r >= 0x80 && r < 0xa0:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sgrLen is the length of the colour sequence s starts with, 0 when it
// starts with none.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != 0x1b || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'm':
			return i + 1
		case c == ';' || c >= '0' && c <= '9':
		default:
			return 0
		}
	}
	return 0
}

// displayWidth is how many terminal columns s takes: colour sequences take
// none, East Asian wide characters two.
func displayWidth(s string) int {
	if !strings.Contains(s, "\x1b[") {
		return runewidth.StringWidth(s)
	}
	w := 0
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		w += runewidth.RuneWidth(r)
		i += size
	}
	return w
}
