package lag

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"time"
)

// A lag listing can have tens of thousands of rows (100 groups x 500
// partitions is 50,000), and encoding/json spent about 200 ms on them,
// more than reading the lag. These appenders write exactly what
// encoding/json writes for rowWire (TestFastJSONMatchesEncodingJSON
// compares them), field by field.

// WriteJSON writes rows as one indented JSON array, as -o json prints it.
func WriteJSON(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	return writeRows(w, rows, "[", ",", "\n]\n", true)
}

// WriteJSONL writes one compact JSON object per row and line.
func WriteJSONL(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	return writeRows(w, rows, "", "\n", "\n", false)
}

// writeRows writes open, the rows separated by sep (indented ones each on
// a line of its own), then close, in chunks of about 48 KiB.
func writeRows(w io.Writer, rows []Row, open, sep, close string, indent bool) error {
	b := append(make([]byte, 0, 64<<10), open...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, sep...)
		}
		if indent {
			b = append(b, "\n  "...)
		}
		b = appendRow(b, r, indent)
		if len(b) > 48<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, close...)
	_, err := w.Write(b)
	return err
}

// objectWriter appends the fields of one object, compact or indented the
// way json.Encoder.SetIndent("", "  ") prints an object inside an array.
type objectWriter struct {
	b      []byte
	indent bool
	n      int
}

func (o *objectWriter) key(name string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	if o.indent {
		o.b = append(o.b, "\n    "...)
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, '"', ':')
	if o.indent {
		o.b = append(o.b, ' ')
	}
}

func (o *objectWriter) str(name, v string) {
	o.key(name)
	o.b = appendString(o.b, v)
}

func (o *objectWriter) strOmit(name, v string) {
	if v != "" {
		o.str(name, v)
	}
}

func (o *objectWriter) int(name string, v int64) {
	o.key(name)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *objectWriter) float(name string, v float64) {
	o.key(name)
	o.b = appendFloat(o.b, v)
}

func appendRow(b []byte, r Row, indent bool) []byte {
	o := objectWriter{b: append(b, '{'), indent: indent}
	o.strOmit("context", r.Context)
	o.str("broker", r.Broker)
	o.str("kind", r.Kind)
	o.strOmit("group", r.Group)
	o.strOmit("topic", r.Topic)
	if r.Partition >= 0 {
		o.int("partition", int64(r.Partition))
	}
	o.strOmit("queue", r.Queue)
	o.strOmit("stream", r.Stream)
	o.strOmit("consumer", r.Consumer)
	if r.Committed >= 0 {
		o.int("committed", r.Committed)
	}
	if r.End >= 0 {
		o.int("end", r.End)
	}
	if r.CountsKnown() {
		o.int("lag", r.Lag)
	} else {
		o.key("lag")
		o.b = append(o.b, "null"...)
	}
	if s := r.TimeLag.Seconds(); s != 0 {
		o.float("time_lag_seconds", s)
	}
	o.strOmit("member", r.Member)
	o.strOmit("client_id", r.ClientID)
	o.strOmit("state", r.State)
	o.strOmit("stats", r.Stats)
	if r.Kind == KindQueue && r.CountsKnown() {
		o.int("ready", r.Ready)
		o.int("unacked", r.Unacked)
		o.int("consumers", int64(r.Consumers))
		o.float("publish_rate", r.PublishRate)
		o.float("deliver_rate", r.DeliverRate)
		o.float("ack_rate", r.AckRate)
	}
	if s := r.DrainTime.Seconds(); s != 0 {
		o.float("drain_seconds", s)
	}
	if r.Kind == KindConsumer && r.CountsKnown() {
		o.int("ack_pending", r.AckPending)
		o.int("redelivered", r.Redelivered)
		o.int("waiting", r.Waiting)
	}
	if !r.LastActive.IsZero() {
		o.key("last_active")
		o.b = appendTime(o.b, r.LastActive)
	}
	if indent { // broker, kind and lag are always there: never an empty object
		o.b = append(o.b, "\n  "...)
	}
	return append(o.b, '}')
}

// appendString writes s as encoding/json does: plain ASCII directly,
// anything it would escape (quotes, controls, <, >, &, non-ASCII) through
// encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat formats like encoding/json: shortest form, exponent only
// for very small or large values, and "e-07" written as "e-7".
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs, format := math.Abs(f), byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	j, err := t.MarshalJSON()
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}
