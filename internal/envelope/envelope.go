// Package envelope is mqctl's one JSON shape for a message: `consume -o
// jsonl` writes it and `produce --format jsonl` reads it, so a message
// round-trips byte for byte. The schema is versioned ("v") and stable;
// README.md documents it.
package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/output"
)

// Version is the newest schema version, the one Decode reads up to.
//
// A line says the oldest version that can hold it: 1 unless it has a header
// whose value is null or whose name is not UTF-8 (version 2 forms), a
// typed RabbitMQ header value (version 3, field.go) or a name or property
// that is not UTF-8 (version 4, "b64"). So every message
// version 1 could carry is still written as it was, and an older mqctl
// refuses a newer line instead of reading its null header value as an
// empty string or its integer as text.
const Version = 4

const (
	// v1 is the first version: everything but the forms later ones added.
	v1 = 1
	v2 = 2
	v3 = 3
	v4 = 4
)

// Envelope is the JSON form of a broker.Message. Key and value appear as
// UTF-8 text ("key", "value") or, when they are not valid UTF-8, as base64
// ("key_b64", "value_b64"). An absent key and an empty key differ, and so
// do a null value (a Kafka tombstone, written "value": null) and an empty
// one.
type Envelope struct {
	V          int         `json:"v"`
	Key        *string     `json:"key,omitempty"`
	KeyB64     *string     `json:"key_b64,omitempty"`
	Value      *string     `json:"value,omitempty"`
	ValueB64   *string     `json:"value_b64,omitempty"`
	Headers    []Header    `json:"headers,omitempty"`
	Timestamp  string      `json:"timestamp,omitempty"`
	Topic      string      `json:"topic,omitempty"`
	Partition  *int32      `json:"partition,omitempty"`
	Offset     *int64      `json:"offset,omitempty"`
	Exchange   *string     `json:"exchange,omitempty"`
	RoutingKey string      `json:"routing_key,omitempty"`
	Queue      string      `json:"queue,omitempty"`
	Properties *Properties `json:"properties,omitempty"`
	Subject    string      `json:"subject,omitempty"`
	Stream     string      `json:"stream,omitempty"`
	StreamSeq  uint64      `json:"stream_seq,omitempty"`
	MsgID      string      `json:"msg_id,omitempty"`
	// B64 lists the text fields ("routing_key", "properties.message_id",
	// ...) that hold base64 of bytes that are not UTF-8 (version 4): a
	// JSON string cannot carry them, and AMQP names and properties and
	// NATS subjects are bytes.
	B64 []string `json:"b64,omitempty"`
	// Error is why a message could not be sent; --failed-out writes it and
	// reading ignores it, so a failed-out file can be resent as it is.
	Error string `json:"error,omitempty"`
}

// Properties are AMQP basic properties.
type Properties struct {
	ContentType   string `json:"content_type,omitempty"`
	MessageID     string `json:"message_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	ReplyTo       string `json:"reply_to,omitempty"`
	Expiration    string `json:"expiration,omitempty"`
	Priority      uint8  `json:"priority,omitempty"`
	Type          string `json:"type,omitempty"`
	AppID         string `json:"app_id,omitempty"`
	// Persistent is written for every RabbitMQ message: false is a
	// transient one, which a restore keeps transient; absent leaves the
	// delivery mode to produce's --persistent.
	Persistent      *bool  `json:"persistent,omitempty"`
	ContentEncoding string `json:"content_encoding,omitempty"`
	UserID          string `json:"user_id,omitempty"`
}

// MarshalJSON writes "value": null for a message without a value: the
// field cannot be left out, as a line without one is refused.
func (e Envelope) MarshalJSON() ([]byte, error) {
	line, err := Encode(e)
	return bytes.TrimSuffix(line, []byte("\n")), err
}

// fields is Envelope without its MarshalJSON method.
type fields Envelope

// withNullValue is an envelope whose value is null. Its outer fields hide
// the embedded ones of the same name and come first, so the line reads as
// it would with a value.
type withNullValue struct {
	V      int     `json:"v"`
	Key    *string `json:"key,omitempty"`
	KeyB64 *string `json:"key_b64,omitempty"`
	Value  *string `json:"value"`
	fields
}

// jsonForm is what e is encoded as.
func (e Envelope) jsonForm() any {
	if e.Value != nil || e.ValueB64 != nil {
		return fields(e)
	}
	return withNullValue{V: e.V, Key: e.Key, KeyB64: e.KeyB64, fields: fields(e)}
}

// Header is one header written as a [name, value] pair. A name or value
// that is not valid UTF-8 is written as {"b64": "..."} (Name holds the
// name's bytes, whatever they are), and a null value (Kafka has them) as
// null; an empty value is "". A typed value (Field, see
// broker.Header.Field) is written in its typed form (field.go).
type Header struct {
	Name  string
	Value []byte
	Field any
}

// version is the oldest version that holds h.
func (h Header) version() int {
	switch {
	case typed(h.Field):
		return v3
	case h.Value == nil || !utf8.ValidString(h.Name):
		return v2
	}
	return v1
}

func (h Header) MarshalJSON() ([]byte, error) { return json.Marshal(h.pair()) }

// MarshalYAML writes the same pair as MarshalJSON (dlq peek -o yaml), not
// a struct with the value as a list of numbers.
func (h Header) MarshalYAML() (any, error) { return h.pair(), nil }

func (h Header) pair() [2]any {
	var v any // null
	switch {
	case h.Field != nil:
		v = fieldJSON(h.Field)
	case h.Value == nil:
	case !utf8.Valid(h.Value):
		v = b64(h.Value)
	default:
		v = string(h.Value)
	}
	return [2]any{nameJSON(h.Name), v}
}

func (h *Header) UnmarshalJSON(data []byte) error {
	var p namedRaw
	if err := p.UnmarshalJSON(data); err != nil {
		return err
	}
	var err error
	h.Name = p.Name
	if h.Value, h.Field, err = readHeaderValue(p.raw); err != nil {
		return fmt.Errorf("header %q: %v", p.Name, err)
	}
	return nil
}

// readTextOrB64 reads a JSON string, {"b64": ...} or null (nil).
func readTextOrB64(data json.RawMessage) ([]byte, error) {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return []byte(s), nil
	}
	var b struct {
		B64 *string `json:"b64"`
	}
	if err := json.Unmarshal(data, &b); err != nil || b.B64 == nil {
		return nil, fmt.Errorf("value must be a string, {\"b64\": ...} or null, got %s", clip(data))
	}
	v, err := base64.StdEncoding.DecodeString(*b.B64)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %v", err)
	}
	return v, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// textOrB64 splits bytes into the text or base64 field.
func textOrB64(b []byte) (text, b64 *string) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// FromMessage builds the envelope of a message read from broker b
// ("kafka", "rabbitmq" or "nats"), with the metadata that broker has.
// Only Kafka has null values: elsewhere a nil value is an empty one.
func FromMessage(b string, m *broker.Message) Envelope {
	e := Envelope{V: v1}
	kind := broker.MetaKindOf(b)
	e.Key, e.KeyB64 = textOrB64(m.Key)
	e.Value, e.ValueB64 = textOrB64(m.Value)
	if e.Value == nil && e.ValueB64 == nil && kind != broker.MetaKafka {
		empty := ""
		e.Value = &empty
	}
	for _, h := range m.Headers {
		hd := Header{Name: h.Key, Value: h.Value, Field: h.Field}
		e.V = max(e.V, hd.version())
		e.Headers = append(e.Headers, hd)
	}
	if !m.Timestamp.IsZero() {
		e.Timestamp = m.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	switch kind {
	case broker.MetaKafka:
		e.Topic = m.Destination
		p, o := m.Kafka.Partition, m.Kafka.Offset
		e.Partition, e.Offset = &p, &o
	case broker.MetaAMQP:
		x := m.AMQP.Exchange
		e.Exchange, e.RoutingKey, e.Queue = &x, m.AMQP.RoutingKey, m.AMQP.Queue
		p := Properties{
			ContentType: m.AMQP.ContentType, MessageID: m.AMQP.MessageID, CorrelationID: m.AMQP.CorrelationID,
			ReplyTo: m.AMQP.ReplyTo, Expiration: m.AMQP.Expiration, Priority: m.AMQP.Priority,
			Type: m.AMQP.Type, AppID: m.AMQP.AppID, ContentEncoding: m.AMQP.ContentEncoding, UserID: m.AMQP.UserID,
		}
		if persistent := m.AMQP.Persistent; persistent || m.AMQP.Transient {
			p.Persistent = &persistent
		}
		if p != (Properties{}) {
			e.Properties = &p
		}
	case broker.MetaNATS:
		e.Subject, e.Stream, e.StreamSeq, e.MsgID = m.NATS.Subject, m.NATS.Stream, m.NATS.StreamSeq, m.NATS.MsgID
	}
	for _, f := range e.textFields() {
		if !utf8.ValidString(*f.text) {
			*f.text = base64.StdEncoding.EncodeToString([]byte(*f.text))
			e.B64 = append(e.B64, f.name)
			e.V = max(e.V, v4)
		}
	}
	return e
}

// textField is a text field of an envelope that B64 can name.
type textField struct {
	name string
	text *string
}

// textFields are e's text fields that may hold bytes that are not UTF-8,
// the optional ones when present.
func (e *Envelope) textFields() []textField {
	fs := []textField{{"topic", &e.Topic}, {"routing_key", &e.RoutingKey}, {"queue", &e.Queue},
		{"subject", &e.Subject}, {"stream", &e.Stream}, {"msg_id", &e.MsgID}}
	if e.Exchange != nil {
		fs = append(fs, textField{"exchange", e.Exchange})
	}
	if p := e.Properties; p != nil {
		fs = append(fs, []textField{{"properties.content_type", &p.ContentType}, {"properties.content_encoding", &p.ContentEncoding},
			{"properties.message_id", &p.MessageID}, {"properties.correlation_id", &p.CorrelationID},
			{"properties.reply_to", &p.ReplyTo}, {"properties.expiration", &p.Expiration}, {"properties.type", &p.Type},
			{"properties.app_id", &p.AppID}, {"properties.user_id", &p.UserID}}...)
	}
	return fs
}

// decodeB64 turns the fields e.B64 names back into their bytes.
func (e *Envelope) decodeB64() error {
	fields := map[string]*string{}
	for _, f := range e.textFields() {
		fields[f.name] = f.text
	}
	seen := map[string]bool{}
	for _, name := range e.B64 {
		text, ok := fields[name]
		switch {
		case seen[name]:
			return fmt.Errorf("field \"b64\": %q is listed twice", name)
		case !ok:
			return fmt.Errorf("field \"b64\": %q is not a text field of this line", name)
		}
		seen[name] = true
		b, err := base64.StdEncoding.DecodeString(*text)
		if err != nil {
			return fmt.Errorf("field %q: listed in \"b64\" but not base64", name)
		}
		*text = string(b)
	}
	return nil
}

// Encode writes e as one JSON line, with C1 and bidi controls and
// invisible characters as \u escapes (output.EscapeJSONControls): the
// same JSON to any reader, and a dump or a --failed-out file that a `cat`
// cannot turn against the terminal.
func Encode(e Envelope) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e.jsonForm()); err != nil {
		return nil, err
	}
	return output.EscapeJSONControls(buf.Bytes()), nil
}

// Decode parses one JSON line into a message. Errors name the field at
// fault; the caller adds the line number.
func Decode(line []byte) (*broker.Message, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Envelope
	if err := dec.Decode(&e); err != nil {
		return nil, describe(err)
	}
	// dec.More does not see a stray '}' or ']' after the object.
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("more than one JSON value on the line: %s after the envelope", clip(rest))
	}
	if t := bytes.TrimSpace(line); len(t) == 0 || t[0] != '{' {
		// null decodes into an empty envelope without complaint.
		return nil, fmt.Errorf("a message envelope must be a JSON object, got %s", clip(t))
	}
	hasValue, err := checkKeys(line)
	if err != nil {
		return nil, err
	}
	if e.V < 0 || e.V > Version {
		return nil, fmt.Errorf("field \"v\": version %d is not supported (want %d or lower)", e.V, Version)
	}
	if err := e.decodeB64(); err != nil {
		return nil, err
	}
	m := &broker.Message{Kafka: broker.KafkaMeta{Partition: -1}}
	if m.Key, err = pick("key", e.Key, e.KeyB64); err != nil {
		return nil, err
	}
	if m.Value, err = pick("value", e.Value, e.ValueB64); err != nil {
		return nil, err
	}
	for _, h := range e.Headers {
		m.Headers = append(m.Headers, broker.Header{Key: h.Name, Value: h.Value, Field: h.Field})
	}
	if e.Timestamp != "" {
		if m.Timestamp, err = time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
			return nil, fmt.Errorf("field \"timestamp\": %q is not an RFC 3339 time", e.Timestamp)
		}
	}
	if e.Partition != nil {
		m.Kafka.Partition = *e.Partition
	}
	if e.Offset != nil {
		m.Kafka.Offset = *e.Offset
	}
	if e.Exchange != nil {
		m.AMQP.Exchange = *e.Exchange
	}
	m.AMQP.RoutingKey, m.AMQP.Queue = e.RoutingKey, e.Queue
	if p := e.Properties; p != nil {
		m.AMQP.ContentType, m.AMQP.MessageID, m.AMQP.CorrelationID = p.ContentType, p.MessageID, p.CorrelationID
		m.AMQP.ReplyTo, m.AMQP.Expiration, m.AMQP.Priority = p.ReplyTo, p.Expiration, p.Priority
		m.AMQP.Type, m.AMQP.AppID, m.AMQP.ContentEncoding, m.AMQP.UserID = p.Type, p.AppID, p.ContentEncoding, p.UserID
		if p.Persistent != nil {
			m.AMQP.Persistent, m.AMQP.Transient = *p.Persistent, !*p.Persistent
		}
	}
	m.NATS.Subject, m.NATS.Stream, m.NATS.StreamSeq, m.NATS.MsgID = e.Subject, e.Stream, e.StreamSeq, e.MsgID
	// A RabbitMQ or NATS dump: its mq-kafka-key header is a carried key.
	m.KeyInHeader = e.Exchange != nil || e.Queue != "" || e.RoutingKey != "" || e.Subject != "" || e.Stream != ""
	switch {
	case e.Topic != "":
		m.Destination = e.Topic
	case e.Subject != "":
		m.Destination = e.Subject
	case e.Exchange != nil:
		m.Destination = *e.Exchange
	}
	if !hasValue {
		// {} would otherwise be sent as an empty message.
		return nil, fmt.Errorf(`no "value" or "value_b64" field (an empty message is "value": "", a message without a value "value": null)`)
	}
	return m, nil
}

// checkKeys refuses a key that appears twice in one object of line, a
// valid JSON value: encoding/json would keep the last and drop the other
// silently. Keys are compared as encoding/json matches them to fields,
// without regard to case. hasValue reports a top-level "value" or
// "value_b64" key, null included.
func checkKeys(line []byte) (hasValue bool, err error) {
	// keys holds the keys seen in each open object or array (nil for an
	// array), innermost last.
	var keys [][]string
	var inObject []bool
	for i := 0; i < len(line); {
		switch line[i] {
		case '{', '[':
			keys = append(keys, nil)
			inObject = append(inObject, line[i] == '{')
			i++
		case '}', ']':
			if len(keys) == 0 {
				return false, fmt.Errorf("unbalanced %q", line[i])
			}
			keys, inObject = keys[:len(keys)-1], inObject[:len(inObject)-1]
			i++
		case '"':
			end, escaped := stringEnd(line, i)
			j := end
			for j < len(line) && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r' || line[j] == '\n') {
				j++
			}
			if depth := len(keys) - 1; depth >= 0 && inObject[depth] && j < len(line) && line[j] == ':' {
				key := string(line[i+1 : end-1])
				if escaped {
					if err := json.Unmarshal(line[i:end], &key); err != nil {
						return false, fmt.Errorf("key %s: %v", clip(line[i:end]), err)
					}
				}
				for _, k := range keys[depth] {
					if strings.EqualFold(k, key) {
						return false, fmt.Errorf("duplicate key %q: JSON would keep only one of its values", key)
					}
				}
				keys[depth] = append(keys[depth], key)
				if depth == 0 && (strings.EqualFold(key, "value") || strings.EqualFold(key, "value_b64")) {
					hasValue = true
				}
			}
			i = end
		default:
			i++
		}
	}
	return hasValue, nil
}

// stringEnd returns the index after the JSON string that starts at
// line[start] ('"'), and whether it holds an escape.
func stringEnd(line []byte, start int) (end int, escaped bool) {
	i := start + 1
	for {
		n := bytes.IndexAny(line[i:], `"\`)
		if n < 0 {
			return len(line), escaped
		}
		i += n
		if line[i] == '"' {
			return i + 1, escaped
		}
		escaped = true
		i += 2
	}
}

func pick(name string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("fields %q and \"%s_b64\" are both set", name, name)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		v, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("field \"%s_b64\": invalid base64: %v", name, err)
		}
		return v, nil
	}
	return nil, nil
}

// describe turns encoding/json errors into messages that name the field.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("field %q: want %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not JSON: %v (at byte %d)", syntaxErr, syntaxErr.Offset)
	}
	return fmt.Errorf("not a message envelope: %v", err)
}
