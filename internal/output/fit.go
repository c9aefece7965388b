package output

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// Fit says how a table may be narrowed to a terminal: first headers are
// abbreviated, then columns dropped, then cells shortened with "…", and a
// line still too wide is cut, so no row ever wraps.
type Fit struct {
	// Width and Height are the terminal's size in columns and lines; 0 is
	// unknown, no limit. Height counts the header and a line for a note
	// on the rows left out.
	Width, Height int
	// Abbrev gives a shorter header for the column of the same index;
	// "" keeps it.
	Abbrev []string
	// Drop lists columns (indexes into Header) in the order they go.
	Drop []int
	// Shorten lists columns whose cells may be cut with "…".
	Shorten []int
}

// Fitted says what FitTable left out.
type Fitted struct {
	Dropped  []string // headers of the dropped columns, in Drop order
	RowsLeft int      // rows cut to fit Height
}

// minShortened is the narrowest a shortened column gets: a few characters
// and the ellipsis still tell names apart.
const minShortened = 6

// FitTable returns t narrowed to f.Width and cut to f.Height, with every
// cell already made safe for a terminal (see TerminalSafe), and what it
// left out. Rows are kept from the top: callers sort the important first.
func FitTable(t Table, f Fit) (Table, Fitted) {
	var info Fitted
	header := safeRow(t.Header)
	rows := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		rows[i] = safeRow(r)
	}
	if f.Height > 0 && len(rows)+1 > f.Height {
		keep := max(f.Height-2, 0) // the header and the note
		info.RowsLeft = len(rows) - keep
		rows = rows[:keep]
	}
	colors := t.Colors[:min(len(t.Colors), len(rows))]
	if f.Width <= 0 {
		return Table{Header: header, Rows: rows, Colors: colors}, info
	}
	all := append([][]string{header}, rows...)
	widths := columnWidths(all)
	keep := make([]bool, len(header))
	for i := range keep {
		keep[i] = true
	}
	total := func() int {
		n, cols := 0, 0
		for i, w := range widths {
			if keep[i] {
				n += w
				cols++
			}
		}
		return n + 2*max(cols-1, 0)
	}
	if total() > f.Width {
		for i, a := range f.Abbrev {
			if a != "" && i < len(header) && displayWidth(a) < displayWidth(header[i]) {
				header[i] = a
			}
		}
		widths = columnWidths(all)
	}
	for _, c := range f.Drop {
		if total() <= f.Width {
			break
		}
		if c < len(keep) && keep[c] {
			keep[c] = false
			info.Dropped = append(info.Dropped, t.Header[c])
		}
	}
	for total() > f.Width {
		// Take one column off the widest shortenable column.
		widest := -1
		for _, c := range f.Shorten {
			if c < len(keep) && keep[c] && widths[c] > minShortened && (widest < 0 || widths[c] > widths[widest]) {
				widest = c
			}
		}
		if widest < 0 {
			break
		}
		widths[widest]--
	}
	for _, c := range f.Shorten {
		if c >= len(keep) || !keep[c] {
			continue
		}
		for _, r := range all {
			if c < len(r) && displayWidth(r[c]) > widths[c] {
				r[c] = runewidth.Truncate(r[c], widths[c], "…")
			}
		}
	}
	out := Table{Header: pick(header, keep), Width: f.Width}
	for _, r := range rows {
		out.Rows = append(out.Rows, pick(r, keep))
	}
	for _, c := range colors {
		out.Colors = append(out.Colors, pick(c, keep))
	}
	return out, info
}

func safeRow(r []string) []string {
	out := make([]string, len(r))
	for i, c := range r {
		out[i] = TerminalSafe(c)
	}
	return out
}

func columnWidths(lines [][]string) []int {
	var widths []int
	for _, r := range lines {
		for j, c := range r {
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], displayWidth(c))
		}
	}
	return widths
}

func pick(r []string, keep []bool) []string {
	out := make([]string, 0, len(r))
	for i, c := range r {
		if i >= len(keep) || keep[i] {
			out = append(out, c)
		}
	}
	return slices.Clip(out)
}

// cutLine cuts a rendered line to width terminal columns, closing any
// colour it cut into.
func cutLine(s string, width int) string {
	if displayWidth(s) <= width {
		return s
	}
	var b strings.Builder
	w, coloured := 0, false
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			coloured = true
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		rw := runewidth.RuneWidth(r)
		if w+rw > width-1 {
			break
		}
		b.WriteRune(r)
		w += rw
		i += size
	}
	b.WriteString("…")
	if coloured {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}

// FitLine makes s safe for a terminal and cuts it to width columns, for a
// line printed above a fitted table.
func FitLine(s string, width int) string { return cutLine(TerminalSafe(s), width) }
