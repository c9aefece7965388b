package output

import (
	"encoding/json"
	"testing"

	"go.yaml.in/yaml/v3"
)

// JSON and YAML never carry a control or bidi override raw, and read back
// to the same strings.
func TestJSONYAMLEscapeControlsLosslessly(t *testing.T) {
	type item struct {
		Name  string `json:"name" yaml:"name"`
		Value string `json:"value" yaml:"value"`
	}
	var items []item
	for _, tc := range hostile {
		if tc.name == "invalid utf8" {
			continue // not a string JSON can hold; the envelope uses value_b64
		}
		items = append(items, item{tc.name + "\u202e\u0085", tc.in})
	}
	for _, format := range []string{"json", "jsonl", "yaml"} {
		s, out, _ := Test()
		if err := List(s, Format{Name: format}, items, nil); err != nil {
			t.Fatal(err)
		}
		assertInert(t, format, out.String())
		if format == "jsonl" {
			continue
		}
		var back []item
		var err error
		if format == "json" {
			err = json.Unmarshal(out.Bytes(), &back)
		} else {
			err = yaml.Unmarshal(out.Bytes(), &back)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, out)
		}
		for i := range items {
			if back[i] != items[i] {
				t.Errorf("%s: read back %q, wrote %q", format, back[i], items[i])
			}
		}
	}
	s, out, _ := Test()
	if err := Object(s, Format{Name: "json"}, item{"\u009b", "\u2066"}, nil); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"name\": \"\\u009b\",\n  \"value\": \"\\u2066\"\n}\n"; out.String() != want {
		t.Errorf("got %q want %q", out.String(), want)
	}
}
