package output

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// PrintTable renders a borderless aligned table on a terminal and plain
// tab-separated lines (header first) in a pipe, so scripts can cut and awk.
// In a pipe each cell is escaped by TSVCell (\\, \t, \n, \r and what
// TerminalSafe escapes), so a row stays one line whatever the data holds
// and a pipe into head or less cannot draw on the terminal.
//
// On a terminal each cell is made safe to show first (see TerminalSafe):
// tables carry message keys, values and broker error text, and a dead
// letter holding escape sequences must not be able to clear, hide or
// rewrite the on-call engineer's screen. t.Colors are added after that,
// when s.Color is on (NO_COLOR and --no-color turn it off).
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
	rows := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		rows[i] = make([]string, len(r))
		for j, c := range r {
			if c = TerminalSafe(c); c != "" {
				if col := t.color(i, j); col != "" && s.Color {
					c = "\x1b[" + col + "m" + c + "\x1b[0m"
				}
			}
			rows[i][j] = c
		}
	}
	header := make([]string, len(t.Header))
	for j, c := range t.Header {
		header[j] = TerminalSafe(c)
	}
	var b strings.Builder
	tbl := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Lines: tw.LinesNone, Separators: tw.SeparatorsNone},
		})),
		tablewriter.WithConfig(tableConfig),
	)
	tbl.Header(header)
	if err := tbl.Bulk(rows); err != nil {
		return err
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	// The padding after the last column is not part of the table.
	var out strings.Builder
	for line := range strings.Lines(b.String()) {
		line = strings.TrimRight(line, " \n")
		if t.Width > 0 {
			line = cutLine(line, t.Width)
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	_, err := io.WriteString(s.Out, out.String())
	return err
}

// tableConfig is kubectl's look: no borders, left-aligned, two spaces
// between columns, cells exactly as given (no case change, trimming or
// wrapping: they are already made safe, and a cut belongs to Width).
var tableConfig = func() tablewriter.Config {
	cell := tw.CellConfig{
		Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone, AutoFormat: tw.Off},
		Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "  ", Overwrite: true}},
		Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
	}
	return tablewriter.Config{
		Header:   cell,
		Row:      cell,
		Behavior: tw.Behavior{TrimSpace: tw.Off},
	}
}()

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
