package envelope

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// Every AMQP field type is written in its typed form, marks the line
// version 3, and reads back as the same Go value with its text in Value.
func TestTypedHeadersRoundTrip(t *testing.T) {
	stamp := time.Unix(1_700_000_000, 0).UTC()
	tests := []struct {
		field any
		json  string
		text  string
	}{
		{int8(-8), `{"int8":-8}`, "-8"},
		{int16(-1600), `{"int16":-1600}`, "-1600"},
		{int32(3), `{"int32":3}`, "3"},
		{int64(math.MinInt64), `{"int64":-9223372036854775808}`, "-9223372036854775808"},
		{uint8(255), `{"uint8":255}`, "255"},
		{uint16(65535), `{"uint16":65535}`, "65535"},
		{uint32(math.MaxUint32), `{"uint32":4294967295}`, "4294967295"},
		{float32(0.1), `{"float32":0.1}`, "0.1"},
		{math.MaxFloat64, `{"float64":1.7976931348623157e+308}`, "1.7976931348623157e+308"},
		{broker.Decimal{Scale: 3, Value: -5}, `{"decimal":"-0.005"}`, "-0.005"},
		{stamp, `{"timestamp":"2023-11-14T22:13:20Z"}`, "2023-11-14T22:13:20Z"},
		{true, `{"bool":true}`, "true"},
		{[]byte("text"), `{"bytes":"dGV4dA=="}`, "text"},
		{broker.Table{"b": nil, "a": []byte{0xff}, "\xff": "s"}, `{"table":[["a",{"b64":"/w=="}],["b",null],[{"b64":"/w=="},"s"]]}`, ""},
		{[]any{"s", nil, broker.Table{}, []any{false}}, `{"array":["s",null,{"table":[]},{"array":[{"bool":false}]}]}`, `["s",null,{},[false]]`},
	}
	for _, tt := range tests {
		m := &broker.Message{Value: []byte{}, Headers: []broker.Header{{Key: "h", Value: broker.FieldText(tt.field), Field: tt.field}}}
		line, err := Encode(FromMessage("rabbitmq", m))
		if err != nil {
			t.Fatalf("%#v: %v", tt.field, err)
		}
		if s := string(line); !strings.HasPrefix(s, `{"v":3,`) || !strings.Contains(s, `["h",`+tt.json+`]`) {
			t.Errorf("%#v encoded as %s, want v 3 and %s", tt.field, line, tt.json)
		}
		back, err := Decode(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		h := back.Headers[0]
		if !reflect.DeepEqual(h.Field, tt.field) || tt.text != "" && string(h.Value) != tt.text {
			t.Errorf("%s read back as %#v %q, want %#v %q", line, h.Field, h.Value, tt.field, tt.text)
		}
	}
}

// Lines without a typed value keep the version they had; a byte array
// that is not UTF-8 keeps version 1's {"b64"} form.
func TestUntypedHeadersKeepTheirVersion(t *testing.T) {
	for _, tt := range []struct {
		h    broker.Header
		want string
	}{
		{broker.Header{Key: "s", Value: []byte("x")}, `{"v":1,`},
		{broker.Header{Key: "b", Value: []byte{0xff}, Field: []byte{0xff}}, `{"v":1,`},
		{broker.Header{Key: "void"}, `{"v":2,`},
	} {
		line, err := Encode(FromMessage("rabbitmq", &broker.Message{Headers: []broker.Header{tt.h}}))
		if err != nil || !strings.HasPrefix(string(line), tt.want) {
			t.Errorf("%+v: %s %v, want %s", tt.h, line, err, tt.want)
		}
	}
}

func TestTypedHeaderErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"int8": 128}`:                  "fits int8",
		`{"uint32": -1}`:                 "fits uint32",
		`{"int32": 1.5}`:                 "fits int32",
		`{"float64": "NaN"}`:             "finite",
		`{"float32": 1e39}`:              "fits float32",
		`{"decimal": "1.2.3"}`:           "decimal",
		`{"decimal": "99999999999"}`:     "32 bits",
		`{"timestamp": "yesterday"}`:     "RFC 3339",
		`{"bool": 1}`:                    "true or false",
		`{"int32": 1, "int64": 1}`:       "one typed form",
		`{"uint64": 1}`:                  "unknown type",
		`{"bytes": "%%"}`:                "base64",
		`{"table": [["a", 1]]}`:          "value must be",
		`{"table": [["a", 1, 2]]}`:       "pair",
		`{"table": [["a",""],["a",""]]}`: "given twice",
		`{"array": {"a": 1}}`:            "JSON array",
	} {
		_, err := Decode([]byte(`{"value": "", "headers": [["h", ` + in + `]]}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want mention of %q", in, err, want)
		}
	}
}
