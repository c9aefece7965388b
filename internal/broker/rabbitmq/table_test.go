package rabbitmq

import (
	"reflect"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
)

// TestTableConversion: tables and decimals, at any depth and inside
// arrays, take broker's types one way and amqp091's the other, and a
// round trip gives back the value it started from.
func TestTableConversion(t *testing.T) {
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := amqp.Table{
		"i8": int8(-1), "i16": int16(2), "i64": int64(3), "f": 1.5, "b": true, "bytes": []byte{0, 1},
		"ts": stamp, "void": nil, "dec": amqp.Decimal{Scale: 2, Value: 150},
		"deep": amqp.Table{"d": amqp.Decimal{Scale: 0, Value: -3}, "t": amqp.Table{}},
		"arr":  []any{amqp.Decimal{Scale: 1, Value: 7}, amqp.Table{"x": "y"}, []any{int32(4)}},
	}
	want := broker.Table{
		"i8": int8(-1), "i16": int16(2), "i64": int64(3), "f": 1.5, "b": true, "bytes": []byte{0, 1},
		"ts": stamp, "void": nil, "dec": broker.Decimal{Scale: 2, Value: 150},
		"deep": broker.Table{"d": broker.Decimal{Scale: 0, Value: -3}, "t": broker.Table{}},
		"arr":  []any{broker.Decimal{Scale: 1, Value: 7}, broker.Table{"x": "y"}, []any{int32(4)}},
	}
	got := fromAMQP(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fromAMQP:\n got %#v\nwant %#v", got, want)
	}
	if back := toAMQP(got); !reflect.DeepEqual(back, in) {
		t.Errorf("toAMQP(fromAMQP(v)):\n got %#v\nwant %#v", back, in)
	}
}
