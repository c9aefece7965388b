package rabbitmq

import (
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

// header turns an AMQP table entry into a header: a string or void as
// its bytes, any other type as its text with the typed value in Field,
// so a restore sends the same type back.
func header(name string, v any) broker.Header {
	switch v := v.(type) {
	case nil:
		return broker.Header{Key: name}
	case string:
		return broker.Header{Key: name, Value: []byte(v)}
	}
	f := fromAMQP(v)
	return broker.Header{Key: name, Value: broker.FieldText(f), Field: f}
}

// headerBytes is the text of an AMQP table value (see broker.FieldText).
func headerBytes(v any) []byte { return broker.FieldText(fromAMQP(v)) }

// fromAMQP turns an amqp091 field value into broker's typed form: tables
// and decimals become broker's, arrays are converted member by member,
// and every other type is the same in both.
func fromAMQP(v any) any {
	switch v := v.(type) {
	case amqp.Table:
		t := make(broker.Table, len(v))
		for k, x := range v {
			t[k] = fromAMQP(x)
		}
		return t
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = fromAMQP(x)
		}
		return a
	case amqp.Decimal:
		return broker.Decimal{Scale: v.Scale, Value: v.Value}
	}
	return v
}

// toAMQP is fromAMQP's inverse.
func toAMQP(v any) any {
	switch v := v.(type) {
	case broker.Table:
		t := make(amqp.Table, len(v))
		for k, x := range v {
			t[k] = toAMQP(x)
		}
		return t
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = toAMQP(x)
		}
		return a
	case broker.Decimal:
		return amqp.Decimal{Scale: v.Scale, Value: v.Value}
	}
	return v
}
