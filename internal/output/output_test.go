package output

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/mqerr"
)

type row struct {
	Name  string `json:"name" yaml:"name"`
	Count int    `json:"count" yaml:"count"`
}

func table(rs []row) Table {
	t := Table{Header: []string{"NAME", "COUNT"}}
	for _, r := range rs {
		t.Rows = append(t.Rows, []string{r.Name, strings.Repeat("9", r.Count)})
	}
	return t
}

func TestList(t *testing.T) {
	rows := []row{{"a", 1}, {"bb", 2}}
	cases := []struct {
		format string
		tty    bool
		want   string
	}{
		{"json", false, "[\n  {\n    \"name\": \"a\",\n    \"count\": 1\n  },\n  {\n    \"name\": \"bb\",\n    \"count\": 2\n  }\n]\n"},
		{"jsonl", false, "{\"name\":\"a\",\"count\":1}\n{\"name\":\"bb\",\"count\":2}\n"},
		{"yaml", false, "- name: a\n  count: 1\n- name: bb\n  count: 2\n"},
		{"template={{.Name}}={{.Count}}", false, "a=1\nbb=2\n"},
		{"table", false, "NAME\tCOUNT\na\t9\nbb\t99\n"},
	}
	for _, tc := range cases {
		f, err := ParseFormat(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		s, out, _ := Test()
		s.OutTTY = tc.tty
		if err := List(s, f, rows, table); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q want %q", tc.format, out.String(), tc.want)
		}
	}
}

func TestTTYTableAligned(t *testing.T) {
	s, out, _ := Test()
	s.OutTTY = true
	if err := List(s, Format{Name: "table"}, []row{{"a", 1}, {"longer-name", 3}}, table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || strings.Contains(out.String(), "\t") {
		t.Fatalf("tty table:\n%s", out)
	}
	col := strings.Index(lines[0], "COUNT")
	if strings.Index(lines[1], "9") != col || strings.Index(lines[2], "999") != col {
		t.Errorf("columns not aligned:\n%s", out)
	}
}

func TestEmptyJSONIsArray(t *testing.T) {
	s, out, _ := Test()
	if err := List[row](s, Format{Name: "json"}, nil, table); err != nil || out.String() != "[]\n" {
		t.Errorf("got %q %v", out, err)
	}
}

func TestParseFormatErrors(t *testing.T) {
	for _, in := range []string{"xml", "template={{.X", "template={{nofunc .X}}"} {
		if _, err := ParseFormat(in); mqerr.KindOf(err) != mqerr.Usage {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// A template prints data as it is: on a terminal every escape sequence and
// control in it shows escaped (lines and tabs stay), in a pipe the bytes
// are unchanged.
func TestTemplateOnTerminalIsInert(t *testing.T) {
	f, err := ParseFormat(`template={{.Name}}{{"\t"}}{{.Count}}`)
	if err != nil {
		t.Fatal(err)
	}
	rows := []row{{Name: "a"}}
	for _, tc := range hostile {
		rows = append(rows, row{Name: tc.in})
	}
	for _, tty := range []bool{true, false} {
		s, out, _ := Test()
		s.OutTTY = tty
		if err := List(s, f, rows, table); err != nil {
			t.Fatal(err)
		}
		if err := Object(s, f, rows[1], nil); err != nil {
			t.Fatal(err)
		}
		if tty {
			assertInert(t, "template on a terminal", strings.ReplaceAll(out.String(), "\t", ""))
			if !strings.HasPrefix(out.String(), "a\t0\n") {
				t.Errorf("terminal: lines and tabs changed: %q", out.String())
			}
			continue
		}
		want := ""
		for _, r := range append(rows, rows[1]) {
			want += r.Name + "\t0\n"
		}
		if out.String() != want {
			t.Errorf("pipe: got %q, want the bytes unchanged", out.String())
		}
	}
}
