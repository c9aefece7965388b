package consume

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"text/template"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Printer writes messages to a buffered stdout. Begin and End frame the
// whole run (the brackets of a JSON array).
type Printer interface {
	Begin(w *bufio.Writer) error
	Print(w *bufio.Writer, m *broker.Message) error
	End(w *bufio.Writer) error
}

// NewPrinter returns the printer for -o: raw (the value and a newline),
// jsonl (the envelope, one per line, which produce --format jsonl reads
// back), json (an array of envelopes) or template=TEXT (a Go template over
// TemplateData, one message per line). brokerName picks the metadata the
// envelope carries.
func NewPrinter(format, brokerName string) (Printer, error) {
	if body, ok := strings.CutPrefix(format, "template="); ok {
		t, err := template.New("consume").Funcs(templateFuncs).Parse(body)
		if err != nil {
			return nil, mqerr.Usagef("-o template: %v", err)
		}
		// A template naming a field that does not exist parses; find
		// that before anything is read. Whether it runs on a message
		// (slice bounds, index out of range) depends on the message.
		if err := checkTemplate(t); err != nil {
			return nil, mqerr.Usagef("-o template: %v", err)
		}
		return &templatePrinter{t: t, broker: brokerName}, nil
	}
	switch format {
	case "raw":
		return rawPrinter{}, nil
	case "jsonl":
		return jsonlPrinter{broker: brokerName}, nil
	case "json":
		return &jsonPrinter{broker: brokerName}, nil
	}
	return nil, mqerr.Usagef("consume -o %s: want raw, jsonl, json or template=TEMPLATE", format)
}

type rawPrinter struct{}

func (rawPrinter) Begin(*bufio.Writer) error { return nil }
func (rawPrinter) End(*bufio.Writer) error   { return nil }
func (rawPrinter) Print(w *bufio.Writer, m *broker.Message) error {
	w.Write(m.Value)
	return w.WriteByte('\n')
}

type jsonlPrinter struct{ broker string }

func (jsonlPrinter) Begin(*bufio.Writer) error { return nil }
func (jsonlPrinter) End(*bufio.Writer) error   { return nil }
func (p jsonlPrinter) Print(w *bufio.Writer, m *broker.Message) error {
	line, err := envelope.Encode(envelope.FromMessage(p.broker, m))
	if err != nil {
		return err
	}
	_, err = w.Write(line)
	return err
}

// jsonPrinter writes one indented array, closed at End even after an
// interrupt, so the output is always valid JSON.
type jsonPrinter struct {
	broker string
	n      int
}

func (p *jsonPrinter) Begin(w *bufio.Writer) error {
	_, err := w.WriteString("[")
	return err
}

func (p *jsonPrinter) Print(w *bufio.Writer, m *broker.Message) error {
	b, err := json.MarshalIndent(envelope.FromMessage(p.broker, m), "  ", "  ")
	if err != nil {
		return err
	}
	b = output.EscapeJSONControls(b)
	sep := ",\n  "
	if p.n == 0 {
		sep = "\n  "
	}
	p.n++
	w.WriteString(sep)
	_, err = w.Write(b)
	return err
}

func (p *jsonPrinter) End(w *bufio.Writer) error {
	if p.n > 0 {
		w.WriteString("\n")
	}
	_, err := w.WriteString("]\n")
	return err
}

// TemplateData is what -o template=... sees for each message.
type TemplateData struct {
	Broker       string
	Key          string
	Value        string
	Headers      []broker.Header
	Timestamp    time.Time
	Destination  string
	Partition    int32
	Offset       int64
	Exchange     string
	RoutingKey   string
	Queue        string
	Redelivered  bool
	Subject      string
	Stream       string
	StreamSeq    uint64
	NumDelivered uint64
	MessageID    string
	msg          *broker.Message
}

// Header returns the first value of the header named name, as text.
func (d TemplateData) Header(name string) string {
	if v := d.msg.HeaderValues(name); len(v) > 0 {
		return string(v[0])
	}
	return ""
}

// JSON is the message's envelope as one line of JSON.
func (d TemplateData) JSON() (string, error) {
	b, err := json.Marshal(envelope.FromMessage(d.Broker, d.msg))
	return string(b), err
}

// templateFuncs are the output templates' functions and a few for text.
var templateFuncs = func() template.FuncMap {
	fm := maps.Clone(output.TemplateFuncs)
	fm["upper"], fm["lower"] = strings.ToUpper, strings.ToLower
	return fm
}()

type templatePrinter struct {
	t      *template.Template
	broker string
	buf    bytes.Buffer
}

func (*templatePrinter) Begin(*bufio.Writer) error { return nil }
func (*templatePrinter) End(*bufio.Writer) error   { return nil }

func (p *templatePrinter) Print(w *bufio.Writer, m *broker.Message) error {
	d := TemplateData{
		Broker: p.broker, Key: string(m.Key), Value: string(m.Value), Headers: m.Headers,
		Timestamp: m.Timestamp, Destination: m.Destination,
		Partition: m.Kafka.Partition, Offset: m.Kafka.Offset,
		Exchange: m.AMQP.Exchange, RoutingKey: m.AMQP.RoutingKey, Queue: m.AMQP.Queue, Redelivered: m.AMQP.Redelivered,
		Subject: m.NATS.Subject, Stream: m.NATS.Stream, StreamSeq: m.NATS.StreamSeq, NumDelivered: m.NATS.NumDelivered,
		MessageID: messageID(m), msg: m,
	}
	p.buf.Reset()
	if err := p.t.Execute(&p.buf, d); err != nil {
		return &TemplateError{Where: m.Where(), Err: err}
	}
	if b := p.buf.Bytes(); len(b) == 0 || b[len(b)-1] != '\n' {
		p.buf.WriteByte('\n')
	}
	_, err := w.Write(p.buf.Bytes())
	return err
}

// TemplateError is an -o template that failed on one message: that
// message was not written.
type TemplateError struct {
	// Where names the message (broker.Message.Where).
	Where string
	Err   error
}

func (e *TemplateError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// messageID is the broker's message id: the AMQP property or Nats-Msg-Id.
func messageID(m *broker.Message) string {
	if m.AMQP.MessageID != "" {
		return m.AMQP.MessageID
	}
	return m.NATS.MsgID
}

// TerminalHelp says, for consume --help, what a terminal gets.
const TerminalHelp = `On a terminal, raw and template output show control characters, escape
sequences, invalid UTF-8 and bidi controls escaped (\x1b[2J, \u009b, \u202e, \xff), as less
does; to a pipe or a file raw and template write the bytes unchanged. json and jsonl always
write C1 and bidi controls as \u escapes (the same JSON to any reader).`

// ForTerminal returns p made safe for a terminal: what a raw or template
// printer writes is escaped by output.TerminalText. Use it when stdout is
// a terminal only: a pipe or file gets the bytes unchanged. json and jsonl
// need nothing more: they escape controls always (output.EscapeJSONControls).
func ForTerminal(p Printer) Printer {
	switch p.(type) {
	case jsonlPrinter, *jsonPrinter:
		return p
	}
	t := &terminalPrinter{p: p, escape: output.TerminalText}
	t.w = bufio.NewWriter(&t.buf)
	return t
}

type terminalPrinter struct {
	p      Printer
	escape func(string) string
	buf    bytes.Buffer
	w      *bufio.Writer
}

func (t *terminalPrinter) Begin(w *bufio.Writer) error { return t.through(w, t.p.Begin) }
func (t *terminalPrinter) End(w *bufio.Writer) error   { return t.through(w, t.p.End) }
func (t *terminalPrinter) Print(w *bufio.Writer, m *broker.Message) error {
	return t.through(w, func(bw *bufio.Writer) error { return t.p.Print(bw, m) })
}

// through runs one call of the wrapped printer into a buffer and writes
// what it wrote, escaped, to w.
func (t *terminalPrinter) through(w *bufio.Writer, call func(*bufio.Writer) error) error {
	t.buf.Reset()
	err := call(t.w)
	if ferr := t.w.Flush(); err == nil {
		err = ferr
	}
	if t.buf.Len() > 0 {
		if _, werr := w.WriteString(t.escape(t.buf.String())); err == nil {
			err = werr
		}
	}
	return err
}
