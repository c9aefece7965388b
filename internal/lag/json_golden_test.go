package lag

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/rows.golden.json[l]")

// WriteJSON and WriteJSONL print, byte for byte, what the hand-written
// appenders of json_fast.go printed for the same varied rows (every
// kind and field, zeros, unknowns, escaped strings, floats with
// exponents, time zones): the golden files are their output, recorded
// before the appenders were replaced by encoding/json.
func TestJSONMatchesGolden(t *testing.T) {
	rows := randomRows(400)
	for _, c := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"testdata/rows.golden.json", func(b *bytes.Buffer) error { return WriteJSON(b, rows) }},
		{"testdata/rows.golden.jsonl", func(b *bytes.Buffer) error { return WriteJSONL(b, rows) }},
		{"testdata/empty.golden.json", func(b *bytes.Buffer) error { return WriteJSON(b, nil) }},
		{"testdata/report.golden.json", func(b *bytes.Buffer) error {
			return WriteJSONReport(b, rows[:3], []Failure{{Context: "b\x1b", Kind: KindError, Error: "dial <tcp>"}})
		}},
	} {
		var got bytes.Buffer
		if err := c.write(&got); err != nil {
			t.Fatal(err)
		}
		if *updateGolden {
			if err := os.WriteFile(c.file, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: output differs:\n%s", c.file, clipDiff(got.String(), string(want)))
		}
	}
}
