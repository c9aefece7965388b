package lag

import (
	"bufio"
	"encoding/json"
	"io"
	"time"
)

// rowWire is the JSON/YAML shape of a Row. A nil pointer or a zero with
// omitempty means "not applicable or unknown"; the pointers let a real 0
// (partition 0, offset 0, an empty queue) be printed. Durations are seconds
// so scripts do not have to know Go's nanosecond Duration.
type rowWire struct {
	Context   string `json:"context,omitempty" yaml:"context,omitempty"`
	Broker    string `json:"broker" yaml:"broker"`
	Kind      string `json:"kind" yaml:"kind"`
	Group     string `json:"group,omitempty" yaml:"group,omitempty"`
	Topic     string `json:"topic,omitempty" yaml:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty" yaml:"partition,omitempty"`
	Queue     string `json:"queue,omitempty" yaml:"queue,omitempty"`
	Stream    string `json:"stream,omitempty" yaml:"stream,omitempty"`
	Consumer  string `json:"consumer,omitempty" yaml:"consumer,omitempty"`

	Committed      *int64  `json:"committed,omitempty" yaml:"committed,omitempty"`
	End            *int64  `json:"end,omitempty" yaml:"end,omitempty"`
	Lag            *int64  `json:"lag" yaml:"lag"`
	TimeLagSeconds float64 `json:"time_lag_seconds,omitempty" yaml:"time_lag_seconds,omitempty"`
	// TimeLagOf is what the time lag is measured from, beside it.
	TimeLagOf string `json:"time_lag_of,omitempty" yaml:"time_lag_of,omitempty"`

	Member   string `json:"member,omitempty" yaml:"member,omitempty"`
	ClientID string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	State    string `json:"state,omitempty" yaml:"state,omitempty"`
	Stats    string `json:"stats,omitempty" yaml:"stats,omitempty"`

	Ready        *int64   `json:"ready,omitempty" yaml:"ready,omitempty"`
	Unacked      *int64   `json:"unacked,omitempty" yaml:"unacked,omitempty"`
	Consumers    *int     `json:"consumers,omitempty" yaml:"consumers,omitempty"`
	PublishRate  *float64 `json:"publish_rate,omitempty" yaml:"publish_rate,omitempty"`
	DeliverRate  *float64 `json:"deliver_rate,omitempty" yaml:"deliver_rate,omitempty"`
	AckRate      *float64 `json:"ack_rate,omitempty" yaml:"ack_rate,omitempty"`
	DrainSeconds float64  `json:"drain_seconds,omitempty" yaml:"drain_seconds,omitempty"`

	AckPending  *int64    `json:"ack_pending,omitempty" yaml:"ack_pending,omitempty"`
	Redelivered *int64    `json:"redelivered,omitempty" yaml:"redelivered,omitempty"`
	Waiting     *int64    `json:"waiting,omitempty" yaml:"waiting,omitempty"`
	LastActive  time.Time `json:"last_active,omitzero" yaml:"last_active,omitempty"`
}

func (r Row) wire() rowWire {
	w := rowWire{
		Context:        r.Context,
		Broker:         r.Broker,
		Kind:           r.Kind,
		Group:          r.Group,
		Topic:          r.Topic,
		Queue:          r.Queue,
		Stream:         r.Stream,
		Consumer:       r.Consumer,
		TimeLagSeconds: r.TimeLag.Seconds(),
		Member:         r.Member,
		ClientID:       r.ClientID,
		State:          r.State,
		Stats:          r.Stats,
		DrainSeconds:   r.DrainTime.Seconds(),
		LastActive:     r.LastActive,
	}
	if r.TimeLag > 0 {
		w.TimeLagOf = r.TimeLagOf
	}
	if r.Partition >= 0 {
		w.Partition = &r.Partition
	}
	if r.Committed >= 0 {
		w.Committed = &r.Committed
	}
	if r.End >= 0 {
		w.End = &r.End
	}
	if !r.CountsKnown() {
		return w // lag null; ready, unacked, consumers and rates unknown
	}
	w.Lag = &r.Lag
	switch r.Kind {
	case KindQueue:
		w.Ready, w.Consumers = &r.Ready, &r.Consumers
		if r.APIFiguresKnown() { // not a row read over AMQP alone
			w.Unacked = &r.Unacked
			w.PublishRate, w.DeliverRate, w.AckRate = &r.PublishRate, &r.DeliverRate, &r.AckRate
		}
	case KindConsumer:
		w.AckPending, w.Redelivered, w.Waiting = &r.AckPending, &r.Redelivered, &r.Waiting
	}
	return w
}

// MarshalJSON writes the row with snake_case names, leaving out what does
// not apply to its kind (see rowWire).
func (r Row) MarshalJSON() ([]byte, error) { return json.Marshal(r.wire()) }

// MarshalYAML gives YAML the same shape as JSON.
func (r Row) MarshalYAML() (any, error) { return r.wire(), nil }

// KindError is the kind of the entry -o json, jsonl and yaml add for a
// context that did not answer.
const KindError = "error"

// Failure is a context that did not answer: its rows are missing, and
// -o json, jsonl and yaml list it after the rows as
// {"context": "b", "kind": "error", "error": "..."}.
type Failure struct {
	Context string `json:"context" yaml:"context"`
	Kind    string `json:"kind" yaml:"kind"` // KindError
	Error   string `json:"error" yaml:"error"`
}

// NewFailure is the entry for context name failing with err.
func NewFailure(name string, err error) Failure {
	return Failure{Context: name, Kind: KindError, Error: err.Error()}
}

// WriteJSON writes rows as one indented JSON array, as -o json prints it.
func WriteJSON(w io.Writer, rows []Row) error { return WriteJSONReport(w, rows, nil) }

// WriteJSONL writes one compact JSON object per row and line.
func WriteJSONL(w io.Writer, rows []Row) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for _, r := range rows {
		if err := enc.Encode(r.wire()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteJSONReport is WriteJSON with an entry per failed context after the
// rows, in the same array.
func WriteJSONReport(w io.Writer, rows []Row, failures []Failure) error {
	entries := make([]any, 0, len(rows)+len(failures))
	for _, r := range rows {
		entries = append(entries, r.wire())
	}
	for _, f := range failures {
		entries = append(entries, f)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(entries); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteJSONLReport is WriteJSONL with a line per failed context after the
// rows.
func WriteJSONLReport(w io.Writer, rows []Row, failures []Failure) error {
	if err := WriteJSONL(w, rows); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, f := range failures {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
