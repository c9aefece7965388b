package output

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// PrintTable renders a borderless aligned table on a terminal and plain
// tab-separated lines (header first) in a pipe, so scripts can cut and awk.
// In a pipe each cell is escaped by TSVCell (\\, \t, \n, \r), so a row
// stays one line whatever the data holds.
//
// On a terminal each cell is made safe to show first (see TerminalSafe):
// tables carry message keys, values and broker error text, and a dead
// letter holding escape sequences must not be able to clear, hide or
// rewrite the on-call engineer's screen. t.Colors are added after that.
func PrintTable(s *Streams, t Table) error {
	if !s.OutTTY {
		var b strings.Builder
		for _, r := range append([][]string{t.Header}, t.Rows...) {
			for j, c := range r {
				if j > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(TSVCell(c))
			}
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
	for i, line := range lines {
		l.Reset()
		for j, c := range line {
			pad := 0
			if j < len(line)-1 {
				pad = widths[j] - displayWidth(c) + 2
			}
			if col := t.color(i-1, j); col != "" && c != "" {
				c = "\x1b[" + col + "m" + c + "\x1b[0m"
			}
			l.WriteString(c)
			l.WriteString(strings.Repeat(" ", pad))
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

// color is the SGR parameters of row i's cell j ("" none); row -1 is the
// header, which has none.
func (t Table) color(i, j int) string {
	if i < 0 || i >= len(t.Colors) || j >= len(t.Colors[i]) {
		return ""
	}
	c := t.Colors[i][j]
	for k := 0; k < len(c); k++ {
		if c[k] != ';' && (c[k] < '0' || c[k] > '9') {
			return "" // only ours, and only colours
		}
	}
	return c
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
