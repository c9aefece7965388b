package output

import (
	"slices"
	"strings"
	"testing"
)

func fitSample() Table {
	return Table{
		Header: []string{"CONTEXT", "NAME", "PARTITION", "LAG", "MEMBER", "PUBLISH/S", "STATUS"},
		Rows: [][]string{
			{"sandbox-rabbitmq", "orders.created.with-a-long-name", "-", "123", "client-1", "1.0", "WARN"},
			{"sandbox-kafka", "billing", "0", "26", "-", "-", "STALL"},
			{"sandbox-nats", "ORDERS", "-", "8", "-", "-", "OK"},
		},
		Colors: [][]string{{"", "", "", "", "", "", "33"}},
	}
}

func fitSpec(width, height int) Fit {
	return Fit{Width: width, Height: height,
		Abbrev:  []string{"", "", "PART", "", "", "", ""},
		Drop:    []int{5, 4},
		Shorten: []int{1, 0}}
}

// render prints t as a terminal would get it.
func render(t *testing.T, tab Table) []string {
	t.Helper()
	s, out, _ := Test()
	s.OutTTY = true
	if err := PrintTable(s, tab); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func TestFitTable(t *testing.T) {
	cases := []struct {
		width   int
		header  []string
		dropped []string
	}{
		{200, []string{"CONTEXT", "NAME", "PARTITION", "LAG", "MEMBER", "PUBLISH/S", "STATUS"}, nil},
		{89, []string{"CONTEXT", "NAME", "PART", "LAG", "MEMBER", "PUBLISH/S", "STATUS"}, nil},
		{85, []string{"CONTEXT", "NAME", "PART", "LAG", "MEMBER", "STATUS"}, []string{"PUBLISH/S"}},
		{70, []string{"CONTEXT", "NAME", "PART", "LAG", "STATUS"}, []string{"PUBLISH/S", "MEMBER"}},
		{40, []string{"CONTEXT", "NAME", "PART", "LAG", "STATUS"}, []string{"PUBLISH/S", "MEMBER"}},
		{12, []string{"CONTE…", "NAME", "PART", "LAG", "STATUS"}, []string{"PUBLISH/S", "MEMBER"}},
	}
	for _, tc := range cases {
		tab, info := FitTable(fitSample(), fitSpec(tc.width, 0))
		if !slices.Equal(tab.Header, tc.header) || !slices.Equal(info.Dropped, tc.dropped) {
			t.Errorf("width %d: header %q dropped %q; want %q and %q", tc.width, tab.Header, info.Dropped, tc.header, tc.dropped)
		}
		for _, line := range render(t, tab) {
			if w := displayWidth(line); w > tc.width {
				t.Errorf("width %d: a line of %d columns would wrap: %q", tc.width, w, line)
			}
		}
	}
}

func TestFitTableShortensNamesBeforeCutting(t *testing.T) {
	tab, _ := FitTable(fitSample(), fitSpec(40, 0))
	lines := render(t, tab)
	if !strings.Contains(lines[1], "…") || !strings.Contains(lines[1], "WARN") {
		t.Errorf("the long name should be shortened and the status kept:\n%s", strings.Join(lines, "\n"))
	}
	// The colour of a kept status is closed.
	if open, reset := strings.Count(lines[1], "\x1b[33m"), strings.Count(lines[1], "\x1b[0m"); reset < open || !strings.HasSuffix(lines[1], "\x1b[0m") && strings.LastIndex(lines[1], "\x1b[33m") > strings.LastIndex(lines[1], "\x1b[0m") {
		t.Errorf("unbalanced colour: %q", lines[1])
	}
}

func TestFitTableHeight(t *testing.T) {
	tab, info := FitTable(fitSample(), fitSpec(0, 3))
	if len(tab.Rows) != 1 || info.RowsLeft != 2 || tab.Rows[0][1] != "orders.created.with-a-long-name" {
		t.Errorf("rows %q, left %d", tab.Rows, info.RowsLeft)
	}
	tab, info = FitTable(fitSample(), fitSpec(0, 4))
	if len(tab.Rows) != 3 || info.RowsLeft != 0 {
		t.Errorf("everything fits in 4 lines: rows %d, left %d", len(tab.Rows), info.RowsLeft)
	}
}

// Cells are made safe before they are measured: an escape sequence shown
// as text is wider than the raw bytes.
func TestFitTableMeasuresSafeCells(t *testing.T) {
	tab := Table{Header: []string{"NAME", "V"}, Rows: [][]string{{"\x1b[2J\x1b[2J\x1b[2J", "x"}}}
	fitted, _ := FitTable(tab, Fit{Width: 12, Shorten: []int{0}})
	for _, line := range render(t, fitted) {
		if displayWidth(line) > 12 || strings.Contains(line, "\x1b[2J") {
			t.Errorf("line %q", line)
		}
	}
}

func TestParseFormatWide(t *testing.T) {
	f, err := ParseFormat("wide")
	if err != nil || f.Name != "table" || !f.Wide {
		t.Errorf("wide: %+v %v", f, err)
	}
	if f, _ := ParseFormat("table"); f.Wide {
		t.Error("table is not wide")
	}
}
