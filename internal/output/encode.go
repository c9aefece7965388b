package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// encodeJSON writes v as JSON (indented when indent) with every C0 and C1
// control, DEL, bidi override or isolate and invisible character written as a \u escape, so a
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
	_, err := w.Write(EscapeJSONControls(buf.Bytes()))
	return err
}

// escapeUnsafeRunes writes unsafeRune runes of encoded JSON or YAML as
// \uXXXX; above U+FFFF as a JSON surrogate pair, or YAML's \UXXXXXXXX.
func escapeUnsafeRunes(b []byte, yaml bool) []byte {
	if !hasByteAbove7e(b) || !bytes.ContainsFunc(b, unsafeRune) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 32)
	u := func(r rune) {
		const hex = "0123456789abcdef"
		out.WriteString(`\u`)
		out.Write([]byte{hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
	}
	for _, r := range string(b) {
		switch {
		case !unsafeRune(r):
			out.WriteRune(r)
		case r <= 0xffff:
			u(r)
		case yaml:
			fmt.Fprintf(&out, `\U%08x`, r)
		default:
			hi, lo := utf16.EncodeRune(r)
			u(hi)
			u(lo)
		}
	}
	return out.Bytes()
}

// hasByteAbove7e says whether b holds DEL or a byte of a multi-byte rune:
// every unsafeRune does, and most JSON lines hold neither (a byte loop is
// several times cheaper than decoding runes; consume writes one line per
// message).
func hasByteAbove7e(b []byte) bool {
	for _, c := range b {
		if c > 0x7e {
			return true
		}
	}
	return false
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
	_, err := w.Write(escapeUnsafeRunes(buf.Bytes(), true))
	return err
}

func quoteBidi(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.ContainsFunc(n.Value, unsafeRune) {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteBidi(c)
	}
}
