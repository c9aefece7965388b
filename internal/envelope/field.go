package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/broker"
)

// A RabbitMQ header value that is neither a string nor void is written
// with its AMQP type, as an object of one member named after the type:
// {"int32": 3}, {"uint8": 7}, {"float64": 2.5}, {"decimal": "1.50"},
// {"timestamp": "2026-12-06T17:00:00Z"}, {"bool": true},
// {"table": [[name, value], ...]}, {"array": [value, ...]}, and a byte
// array that is valid UTF-8 {"bytes": "<base64>"}. These forms are
// version 3. A byte array that is not UTF-8 keeps the version 1 form
// {"b64": "..."}, which RabbitMQ already got back as a byte array. Inside
// a table or an array a string is a JSON string, void is null and
// {"b64": ...} is a byte array.

// typed reports whether field needs a version 3 form.
func typed(field any) bool {
	b, isBytes := field.([]byte)
	return field != nil && (!isBytes || utf8.Valid(b))
}

// fieldJSON is the JSON form of a typed value (or of a string or void
// inside a table or an array).
func fieldJSON(f any) any {
	one := func(name string, v any) map[string]any { return map[string]any{name: v} }
	integer := func(name string, v int64) map[string]any { return one(name, json.Number(strconv.FormatInt(v, 10))) }
	unsigned := func(name string, v uint64) map[string]any { return one(name, json.Number(strconv.FormatUint(v, 10))) }
	switch f := f.(type) {
	case nil:
		return nil
	case string:
		if !utf8.ValidString(f) {
			return b64(f)
		}
		return f
	case []byte:
		if utf8.Valid(f) {
			return one("bytes", base64.StdEncoding.EncodeToString(f))
		}
		return b64(f)
	case bool:
		return one("bool", f)
	case int8:
		return integer("int8", int64(f))
	case int16:
		return integer("int16", int64(f))
	case int32:
		return integer("int32", int64(f))
	case int64:
		return integer("int64", f)
	case uint8:
		return unsigned("uint8", uint64(f))
	case uint16:
		return unsigned("uint16", uint64(f))
	case uint32:
		return unsigned("uint32", uint64(f))
	case float32:
		return one("float32", floatJSON(float64(f), 32))
	case float64:
		return one("float64", floatJSON(f, 64))
	case broker.Decimal:
		return one("decimal", f.String())
	case time.Time:
		return one("timestamp", f.UTC().Format(time.RFC3339Nano))
	case broker.Table:
		names := make([]string, 0, len(f))
		for k := range f {
			names = append(names, k)
		}
		slices.Sort(names)
		pairs := make([][2]any, len(names))
		for i, k := range names {
			pairs[i] = [2]any{nameJSON(k), fieldJSON(f[k])}
		}
		return one("table", pairs)
	case []any:
		vs := make([]any, len(f))
		for i, x := range f {
			vs[i] = fieldJSON(x)
		}
		return one("array", vs)
	}
	// Decode and the RabbitMQ driver make no other type.
	return fmt.Sprintf("%v", f)
}

func b64[T string | []byte](b T) map[string]string {
	return map[string]string{"b64": base64.StdEncoding.EncodeToString([]byte(b))}
}

// nameJSON is a header or table name: text, or {"b64": ...} when it is
// not UTF-8.
func nameJSON(name string) any {
	if !utf8.ValidString(name) {
		return b64(name)
	}
	return name
}

// floatJSON is a JSON number with the digits that read back as the same
// float, or "NaN", "+Inf" or "-Inf", which JSON numbers cannot be (and
// RabbitMQ cannot carry: Decode refuses them).
func floatJSON(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// readHeaderValue reads a header's value: a string (text), null,
// {"b64": ...} (bytes, as version 1 read them) or a typed form (its text
// as broker.FieldText gives it, and the typed value).
func readHeaderValue(data json.RawMessage) (value []byte, field any, err error) {
	if isB64(data) {
		v, err := readTextOrB64(data)
		return v, nil, err
	}
	f, err := readField(data)
	switch f := f.(type) {
	case nil:
		return nil, nil, err
	case string:
		return []byte(f), nil, nil
	}
	return broker.FieldText(f), f, nil
}

func isB64(data json.RawMessage) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return false
	}
	_, ok := obj["b64"]
	return ok && len(obj) == 1
}

// readField reads any value form: string, null, {"b64": ...} or typed.
func readField(data json.RawMessage) (any, error) {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return s, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || len(obj) != 1 {
		return nil, fmt.Errorf(`value must be a string, null, {"b64": ...} or one typed form ({"int32": 3}, ...), got %s`, clip(data))
	}
	for typ, raw := range obj {
		v, err := readTyped(typ, raw)
		if err != nil {
			return nil, fmt.Errorf("{%q: %s}: %v", typ, clip(raw), err)
		}
		return v, nil
	}
	return nil, nil
}

// bitsOf is the width of each integer and float form.
var bitsOf = map[string]int{
	"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16, "uint32": 32, "float32": 32, "float64": 64,
}

func readTyped(typ string, raw json.RawMessage) (any, error) {
	var s string
	text := json.Unmarshal(raw, &s) == nil
	switch typ {
	case "b64", "bytes":
		b, err := base64.StdEncoding.DecodeString(s)
		if !text || err != nil {
			return nil, fmt.Errorf("want base64 text")
		}
		return b, nil
	case "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32":
		return readInteger(typ, raw)
	case "float32", "float64":
		f, err := strconv.ParseFloat(string(raw), bitsOf[typ])
		if err != nil || text {
			// RabbitMQ closes the connection on NaN and infinities.
			return nil, fmt.Errorf("want a finite number that fits %s", typ)
		}
		if typ == "float32" {
			return float32(f), nil
		}
		return f, nil
	case "decimal":
		if !text {
			return nil, fmt.Errorf(`want decimal text ("1.50")`)
		}
		return broker.ParseDecimal(s)
	case "timestamp":
		t, err := time.Parse(time.RFC3339Nano, s)
		if !text || err != nil {
			return nil, fmt.Errorf("want an RFC 3339 time")
		}
		return t, nil
	case "bool":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("want true or false")
		}
		return b, nil
	case "table":
		return readTable(raw)
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("want a JSON array")
		}
		a := make([]any, len(items))
		for i, item := range items {
			v, err := readField(item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %v", i, err)
			}
			a[i] = v
		}
		return a, nil
	}
	return nil, fmt.Errorf("unknown type (want b64, bytes, int8, int16, int32, int64, uint8, uint16, uint32, float32, float64, decimal, timestamp, bool, table or array)")
}

func readInteger(typ string, raw json.RawMessage) (any, error) {
	fits := fmt.Errorf("want a whole number that fits %s", typ)
	if typ[0] == 'u' {
		n, err := strconv.ParseUint(string(raw), 10, bitsOf[typ])
		switch {
		case err != nil:
			return nil, fits
		case typ == "uint8":
			return uint8(n), nil
		case typ == "uint16":
			return uint16(n), nil
		}
		return uint32(n), nil
	}
	n, err := strconv.ParseInt(string(raw), 10, bitsOf[typ])
	switch {
	case err != nil:
		return nil, fits
	case typ == "int8":
		return int8(n), nil
	case typ == "int16":
		return int16(n), nil
	case typ == "int32":
		return int32(n), nil
	}
	return n, nil
}

// namedRaw is a [name, value] pair (a header or a table entry) whose
// value is read later.
type namedRaw struct {
	Name string
	raw  json.RawMessage
}

func (h *namedRaw) UnmarshalJSON(data []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(data, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("a header must be a [name, value] pair, got %s", clip(data))
	}
	name, err := readTextOrB64(pair[0])
	if err != nil || name == nil {
		return fmt.Errorf("header name must be a string or {\"b64\": ...}, got %s", clip(pair[0]))
	}
	h.Name, h.raw = string(name), pair[1]
	return nil
}

func readTable(raw json.RawMessage) (broker.Table, error) {
	var pairs []json.RawMessage
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("want a list of [name, value] pairs")
	}
	t := make(broker.Table, len(pairs))
	for _, p := range pairs {
		var h namedRaw
		if err := h.UnmarshalJSON(p); err != nil {
			return nil, err
		}
		if _, dup := t[h.Name]; dup {
			return nil, fmt.Errorf("name %q given twice", h.Name)
		}
		v, err := readField(h.raw)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", h.Name, err)
		}
		t[h.Name] = v
	}
	return t, nil
}
