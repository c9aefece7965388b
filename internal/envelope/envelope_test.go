package envelope

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/broker"
)

func TestRoundTripKafka(t *testing.T) {
	m := &broker.Message{
		Key:         []byte{0xff, 0x00, 'k'},
		Value:       []byte(`{"a":"<b>"}`),
		Headers:     []broker.Header{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte{0xc3}}, {Key: "e", Value: []byte{}}},
		Timestamp:   time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC),
		Destination: "orders",
		Kafka:       broker.KafkaMeta{Partition: 3, Offset: 42},
	}
	line, err := Encode(FromMessage("kafka", m))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"key_b64":"/wBr","value":"{\"a\":\"<b>\"}","headers":[["h","1"],["h",{"b64":"ww=="}],["e",""]],"timestamp":"2026-01-02T03:04:05.6Z","topic":"orders","partition":3,"offset":42}` + "\n"
	if string(line) != want {
		t.Fatalf("encoded\n got %s\nwant %s", line, want)
	}
	back, err := Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, m)
	}
	again, _ := Encode(FromMessage("kafka", back))
	if !bytes.Equal(again, line) {
		t.Errorf("re-encoded differs:\n%s%s", again, line)
	}
}

func TestNilAndEmptyKeyDiffer(t *testing.T) {
	for _, key := range [][]byte{nil, {}} {
		line, _ := Encode(FromMessage("nats", &broker.Message{Key: key, Value: []byte("v")}))
		m, err := Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if (m.Key == nil) != (key == nil) {
			t.Errorf("key %#v came back as %#v (%s)", key, m.Key, line)
		}
	}
}

func TestRabbitProperties(t *testing.T) {
	m := &broker.Message{Value: []byte("x"), Destination: "", AMQP: broker.AMQPMeta{
		Exchange: "", RoutingKey: "q1", Queue: "q1", MessageID: "id-1", Priority: 5, Persistent: true, ContentType: "text/plain",
	}}
	line, _ := Encode(FromMessage("rabbitmq", m))
	back, err := Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	if back.AMQP.MessageID != "id-1" || back.AMQP.Priority != 5 || !back.AMQP.Persistent || back.AMQP.RoutingKey != "q1" {
		t.Errorf("%s -> %+v", line, back.AMQP)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		`not json`:                             "not JSON",
		`{"value": 5}`:                         `field "value"`,
		`{"partition": "x"}`:                   `field "partition"`,
		`{"value_b64": "!!"}`:                  `"value_b64": invalid base64`,
		`{"value": "a", "value_b64": "YQ=="}`:  "both set",
		`{"headers": [["a"]]}`:                 "[name, value] pair",
		`{"headers": [["a", 1]]}`:              `header "a"`,
		`{"headers": [["a", {"b64": "%%"}]]}`:  `header "a": invalid base64`,
		`{"timestamp": "yesterday"}`:           `"timestamp"`,
		`{"v": 5}`:                             "version 5",
		`{"v": -1}`:                            "version -1",
		`{"value":"a","headers":[[1, "b"]]}`:   "header name must be",
		`{"value":"a","headers":[[null,"b"]]}`: "header name must be",
		`{"valeu": "typo"}`:                    "valeu",
		`{"value":"a"} {"value":"b"}`:          "more than one",
		`{"value":"a"}}`:                       "more than one",
		`null`:                                 "must be a JSON object, got null",
		`{}`:                                   `no "value" or "value_b64" field`,
		`{"key":"k","headers":[]}`:             `no "value" or "value_b64" field`,
		`{"value":"a","value":"b"}`:            `duplicate key "value"`,
		`{"value":"a","VALUE":"b"}`:            `duplicate key "VALUE"`,
		`{"value":"a","\u0076alue":"b"}`:       `duplicate key "value"`,
		`{"value":"a","properties":{"type":"x","type":"y"}}`:          `duplicate key "type"`,
		`{"value":"a","headers":[["h",{"b64":"YQ==","b64":"Yg=="}]]}`: `duplicate key "b64"`,
	}
	for in, want := range cases {
		_, err := Decode([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want mention of %q", in, err, want)
		}
	}
}

// Keys that only look alike, repeated names in headers (pairs, not
// keys) and quotes or colons inside strings are not duplicates; "value":
// null is a message without a value.
func TestDecodeAcceptsWhatIsNotADuplicate(t *testing.T) {
	for _, in := range []string{
		`{"value":"a","headers":[["h","1"],["h","2"]]}`,
		`{"value":"\"value\":","key":"value"}`,
		`{"value":"a","properties":{"type":"value"},"routing_key":"type"}`,
		`{"value_b64":"YQ==","key_b64":"YQ=="}`,
		` {"value" : "a"} `,
	} {
		if _, err := Decode([]byte(in)); err != nil {
			t.Errorf("Decode(%s): %v", in, err)
		}
	}
	m, err := Decode([]byte(`{"value":null}`))
	if err != nil || m.Value != nil {
		t.Fatalf(`"value": null gave %#v, %v`, m, err)
	}
}

// Whatever bytes a message holds, encode then decode gives them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), "h", []byte("hv"))
	f.Add([]byte{0xff}, []byte{}, "", []byte{0x80, 0x81})
	f.Add([]byte{}, []byte(nil), "\xfe", []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte, hname string, hval []byte) {
		m := &broker.Message{Key: key, Value: value, Headers: []broker.Header{{Key: hname, Value: hval}}, Kafka: broker.KafkaMeta{Partition: -1}}
		line, err := Encode(FromMessage("kafka", m))
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		if !bytes.Equal(back.Key, m.Key) || (back.Key == nil) != (m.Key == nil) || !bytes.Equal(back.Value, m.Value) || (back.Value == nil) != (m.Value == nil) {
			t.Fatalf("key/value changed: %s", line)
		}
		if back.Headers[0].Key != hname || !bytes.Equal(back.Headers[0].Value, hval) || (back.Headers[0].Value == nil) != (hval == nil) {
			t.Fatalf("header changed: %s", line)
		}
	})
}

// Kafka's nulls stay nulls: a tombstone, a null key and a null header
// value come back nil, and their empty forms come back empty. A header
// name that is not UTF-8 comes back byte for byte. Lines that need none of
// the version 2 forms are written as version 1.
func TestKafkaNullsAndBinaryHeaderNames(t *testing.T) {
	cases := []struct {
		m    broker.Message
		want string
	}{
		{broker.Message{Value: nil}, `{"v":1,"value":null,"topic":"t","partition":0,"offset":0}`},
		{broker.Message{Key: []byte{}, Value: []byte{}}, `{"v":1,"key":"","value":"","topic":"t","partition":0,"offset":0}`},
		{broker.Message{Key: []byte{0xff}, Value: nil}, `{"v":1,"key_b64":"/w==","value":null,"topic":"t","partition":0,"offset":0}`},
		{broker.Message{Value: []byte("v"), Headers: []broker.Header{{Key: "n", Value: nil}, {Key: "e", Value: []byte{}}}},
			`{"v":2,"value":"v","headers":[["n",null],["e",""]],"topic":"t","partition":0,"offset":0}`},
		{broker.Message{Value: []byte("v"), Headers: []broker.Header{{Key: "\xff\x00h", Value: []byte("x")}}},
			`{"v":2,"value":"v","headers":[[{"b64":"/wBo"},"x"]],"topic":"t","partition":0,"offset":0}`},
	}
	for _, c := range cases {
		c.m.Destination = "t"
		line, err := Encode(FromMessage("kafka", &c.m))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(string(line), "\n"); got != c.want {
			t.Errorf("encoded\n got %s\nwant %s", got, c.want)
		}
		back, err := Decode(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		c.m.Kafka.Partition = 0
		if !reflect.DeepEqual(back, &c.m) {
			t.Errorf("%s came back as %#v, want %#v", line, back, c.m)
		}
	}
}

// Only Kafka has null values: a nil value elsewhere is an empty message.
func TestNilValueIsEmptyOffKafka(t *testing.T) {
	for _, b := range []string{"nats", "rabbitmq"} {
		line, _ := Encode(FromMessage(b, &broker.Message{}))
		if !strings.Contains(string(line), `"value":""`) {
			t.Errorf("%s: %s", b, line)
		}
	}
}

// Files written before version 2 read as they always did.
func TestReadsVersion1(t *testing.T) {
	m, err := Decode([]byte(`{"v":1,"key":"k","value":"","headers":[["h",""],["b",{"b64":"/w=="}]]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Header{{Key: "h", Value: []byte{}}, {Key: "b", Value: []byte{0xff}}}
	if string(m.Key) != "k" || m.Value == nil || len(m.Value) != 0 || !reflect.DeepEqual(m.Headers, want) {
		t.Errorf("got %#v", m)
	}
}

// Decode never panics on any line.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"value":"x","headers":[["a","b"]]}`))
	f.Fuzz(func(t *testing.T, line []byte) { _, _ = Decode(line) })
}

// AMQP names and properties and NATS names that are not UTF-8 survive a
// dump as base64 listed in "b64" (version 4); a line without them keeps
// its version.
func TestNamesAndPropertiesNotUTF8(t *testing.T) {
	m := &broker.Message{Value: []byte("v")}
	m.AMQP.Exchange, m.AMQP.RoutingKey, m.AMQP.Queue = "ex\xff", "rk\xfe", "q"
	m.AMQP.MessageID, m.AMQP.Type, m.AMQP.AppID, m.AMQP.CorrelationID = "id\xc3\x28", "ok", "app\x80", "\xff"
	line, err := Encode(FromMessage("rabbitmq", m))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(line) || !bytes.Contains(line, []byte(`"v":4`)) || bytes.Contains(line, []byte(`\ufffd`)) {
		t.Fatalf("line %s: want version 4, valid UTF-8, no replacement characters", line)
	}
	back, err := Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	if back.AMQP.Exchange != m.AMQP.Exchange || back.AMQP.RoutingKey != m.AMQP.RoutingKey || back.AMQP.Queue != "q" ||
		back.AMQP.MessageID != m.AMQP.MessageID || back.AMQP.Type != "ok" || back.AMQP.AppID != m.AMQP.AppID || back.AMQP.CorrelationID != "\xff" {
		t.Errorf("read back %+v, wrote %+v", back.AMQP, m.AMQP)
	}
	n := &broker.Message{Value: []byte("v")}
	n.NATS.Subject, n.NATS.MsgID = "a.\xff", "id"
	line, _ = Encode(FromMessage("nats", n))
	if back, err := Decode(line); err != nil || back.NATS.Subject != "a.\xff" || back.NATS.MsgID != "id" {
		t.Errorf("NATS %s read back %+v, %v", line, back, err)
	}
	plain := &broker.Message{Value: []byte("v")}
	plain.AMQP.MessageID = "id"
	if line, _ := Encode(FromMessage("rabbitmq", plain)); !bytes.Contains(line, []byte(`"v":1`)) || bytes.Contains(line, []byte(`"b64":[`)) {
		t.Errorf("a UTF-8 line %s: want version 1 without b64", line)
	}
	for in, want := range map[string]string{
		`{"v":4,"value":"","routing_key":"%%","b64":["routing_key"]}`:                 `field "routing_key": listed in "b64" but not base64`,
		`{"v":4,"value":"","b64":["properties.nope"]}`:                                `"properties.nope" is not a text field`,
		`{"v":4,"value":"","routing_key":"/w==","b64":["routing_key","routing_key"]}`: `listed twice`,
		`{"v":4,"value":"","b64":["properties.type"]}`:                                `"properties.type" is not a text field`,
	} {
		if _, err := Decode([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want mention of %q", in, err, want)
		}
	}
}
