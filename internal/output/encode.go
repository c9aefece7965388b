package output

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// encodeJSON writes v as JSON (indented when indent) with every C0 and C1
// control, DEL and bidi override or isolate written as a \u escape, so a
// `cat` of a dump cannot act on a terminal; any JSON reader gets the same
// string back.
func encodeJSON(w io.Writer, v any, indent bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	// Outside strings JSON is ASCII, so every such rune is inside a string,
	// where \uXXXX means the same rune.
	_, err := w.Write(escapeUnsafeRunes(buf.Bytes()))
	return err
}

// escapeUnsafeRunes replaces DEL, C1 controls and bidi controls in b by
// \uXXXX. encoding/json and yaml.v3 already escape C0 controls.
func escapeUnsafeRunes(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r == 0x7f || r >= 0x80 && r < 0xa0 || isBidi(r) }) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 32)
	for _, r := range string(b) {
		if r == 0x7f || r >= 0x80 && r < 0xa0 || isBidi(r) {
			out.WriteString(`\u`)
			const hex = "0123456789abcdef"
			out.Write([]byte{hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes()
}

// encodeYAML writes v as one YAML document. Strings holding a bidi
// control are double-quoted and the control written as \uXXXX (yaml.v3
// escapes C0 and C1 controls itself but writes bidi controls raw).
func encodeYAML(w io.Writer, v any) error {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return err
	}
	quoteBidi(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(escapeUnsafeRunes(buf.Bytes()))
	return err
}

func quoteBidi(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.ContainsFunc(n.Value, func(r rune) bool { return r == 0x7f || r >= 0x80 && r < 0xa0 || isBidi(r) }) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteBidi(c)
	}
}
