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
func fromAMQP(v any) any { return convert[amqp.Table, broker.Table, amqp.Decimal, broker.Decimal](v) }

// toAMQP is fromAMQP's inverse.
func toAMQP(v any) any { return convert[broker.Table, amqp.Table, broker.Decimal, amqp.Decimal](v) }

// decimal is the shape amqp.Decimal and broker.Decimal share.
type decimal interface {
	~struct {
		Scale uint8
		Value int32
	}
}

// convert walks a field value of one side, whose tables are FT and
// decimals FD, into the other's (TT, TD); one walk serves both
// directions, so they cannot drift apart.
func convert[FT, TT ~map[string]any, FD, TD decimal](v any) any {
	switch v := v.(type) {
	case FT:
		t := make(TT, len(v))
		for k, x := range v {
			t[k] = convert[FT, TT, FD, TD](x)
		}
		return t
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = convert[FT, TT, FD, TD](x)
		}
		return a
	case FD:
		return TD(v)
	}
	return v
}
