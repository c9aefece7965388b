package produce

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/tracecontext"
)

// Decoration is what the command line adds to every message.
type Decoration struct {
	// Destination is where every message goes (DEST): it replaces the
	// topic, exchange or subject an input envelope names, so a message
	// that fails is reported (and written to --failed-out) with the
	// destination it was sent to ("" is RabbitMQ's default exchange).
	// With DestinationIsQueue it is a queue reached through the default
	// exchange.
	Destination        string
	DestinationIsQueue bool
	Key                []byte // nil: keep the input's key
	Headers            []broker.Header
	Partition          *int32
	// UseInputPartition keeps the partition a jsonl envelope names
	// (--partitioner manual); otherwise the partitioner decides.
	UseInputPartition bool
	// RoutingKey for RabbitMQ; "" keeps the input's routing_key.
	RoutingKey string
	// Properties fill AMQP properties the input left empty.
	Properties broker.AMQPMeta
	// MsgID renders Nats-Msg-Id; nil generates "<run id>-<N>" when
	// GenerateMsgID is set (JetStream de-duplication within a run).
	MsgID         *template.Template
	GenerateMsgID bool
	// Traceparent adds a fresh W3C traceparent header to each message
	// that has none (one it has is kept: it belongs to a trace already).
	Traceparent bool
}

// ParseHeader parses -H name=value.
func ParseHeader(s string) (broker.Header, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return broker.Header{}, mqerr.Usagef("header %q: want name=value", s)
	}
	if name == "" {
		return broker.Header{}, mqerr.Usagef("header %q: empty name", s)
	}
	return broker.Header{Key: name, Value: []byte(value)}, nil
}

// ParseMsgIDTemplate parses --msg-id. Fields: .N (input position), .Key,
// .Value (strings); function sha256 returns the hex digest of a string.
func ParseMsgIDTemplate(s string) (*template.Template, error) {
	t, err := template.New("msg-id").Funcs(template.FuncMap{
		"sha256": func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	}).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, mqerr.Usagef("--msg-id: %v", err)
	}
	return t, nil
}

type msgIDData struct {
	N     int
	Key   string
	Value string
}

// Prepare returns the Options.Prepare function for d.
func (d Decoration) Prepare() func(*Record) error {
	runID := newRunID()
	var sb strings.Builder
	seq := 0
	hasProps := d.Properties != (broker.AMQPMeta{})
	return func(rec *Record) error {
		m := rec.Msg
		// Each driver reads its own field; all are set, as the envelope
		// of each broker records its own.
		m.Destination, m.NATS.Subject, m.AMQP.Exchange = d.Destination, d.Destination, d.Destination
		if d.DestinationIsQueue {
			m.AMQP.Exchange = ""
		}
		if d.Key != nil {
			m.Key = d.Key
		}
		if len(d.Headers) > 0 {
			m.Headers = append(m.Headers, d.Headers...)
		}
		if d.Traceparent && !tracecontext.Has(m.Headers) {
			m.Headers = append(m.Headers, broker.Header{Key: tracecontext.Parent, Value: []byte(tracecontext.New())})
		}
		switch {
		case d.Partition != nil:
			m.Kafka.Partition = *d.Partition
		case !d.UseInputPartition:
			m.Kafka.Partition = -1
		}
		if d.RoutingKey != "" {
			m.AMQP.RoutingKey = d.RoutingKey
		}
		if hasProps {
			fillProperties(&m.AMQP, d.Properties)
		}
		switch {
		case d.MsgID != nil:
			sb.Reset()
			if err := d.MsgID.Execute(&sb, msgIDData{N: rec.N, Key: string(m.Key), Value: string(m.Value)}); err != nil {
				return fmt.Errorf("--msg-id: %v", err)
			}
			m.NATS.MsgID = sb.String()
		case d.GenerateMsgID && m.NATS.MsgID == "":
			// A run-wide sequence, not rec.N: --count repeats line numbers.
			seq++
			m.NATS.MsgID = runID + strconv.Itoa(seq)
		}
		return nil
	}
}

func fillProperties(m *broker.AMQPMeta, def broker.AMQPMeta) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&m.ContentType, def.ContentType)
	set(&m.MessageID, def.MessageID)
	set(&m.CorrelationID, def.CorrelationID)
	set(&m.ReplyTo, def.ReplyTo)
	set(&m.Expiration, def.Expiration)
	set(&m.Type, def.Type)
	set(&m.AppID, def.AppID)
	set(&m.ContentEncoding, def.ContentEncoding)
	if m.Priority == 0 {
		m.Priority = def.Priority
	}
	if def.Persistent && !m.Transient {
		m.Persistent = true
	}
}

// newRunID is a short random prefix that keeps generated message ids of
// two runs apart.
func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}
