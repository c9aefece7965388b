package broker

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A typed header value (Header.Field) is one of the AMQP field-table
// types, with the Go types amqp091-go gives them: int8, int16, int32,
// int64, uint8, uint16, uint32, float32, float64, bool, Decimal,
// time.Time, []byte, and Table and []any (an AMQP array), whose members
// are those types, string or nil (void).

// Decimal is an AMQP decimal: Value × 10^-Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// Table is a nested AMQP field table.
type Table map[string]any

// String writes d as decimal text, every digit of its scale kept ("1.50").
func (d Decimal) String() string {
	digits := strconv.FormatInt(int64(d.Value), 10)
	sign := ""
	if d.Value < 0 {
		sign, digits = "-", digits[1:]
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

// ParseDecimal reads what Decimal.String writes.
func ParseDecimal(s string) (Decimal, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 255 || strings.ContainsAny(frac, "+-") || whole == "" || whole == "-" || whole == "+" {
		return Decimal{}, fmt.Errorf("%q is not an AMQP decimal", s)
	}
	v, err := strconv.ParseInt(whole+frac, 10, 32)
	if err != nil {
		return Decimal{}, fmt.Errorf("%q is not an AMQP decimal (digits must fit 32 bits)", s)
	}
	return Decimal{Scale: uint8(len(frac)), Value: int32(v)}, nil
}

// FieldText is the text of a typed header value: numbers and booleans as
// decimal text, timestamps in RFC 3339, byte arrays as they are, and
// nested tables and arrays (x-death, for one) as JSON.
func FieldText(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(v)
	case []byte:
		return v
	case bool:
		return strconv.AppendBool(nil, v)
	case int8:
		return strconv.AppendInt(nil, int64(v), 10)
	case int16:
		return strconv.AppendInt(nil, int64(v), 10)
	case int32:
		return strconv.AppendInt(nil, int64(v), 10)
	case int64:
		return strconv.AppendInt(nil, v, 10)
	case uint8:
		return strconv.AppendUint(nil, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(nil, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(nil, uint64(v), 10)
	case float32:
		return strconv.AppendFloat(nil, float64(v), 'g', -1, 32)
	case float64:
		return strconv.AppendFloat(nil, v, 'g', -1, 64)
	case Decimal:
		return []byte(v.String())
	case time.Time:
		return v.UTC().AppendFormat(nil, time.RFC3339)
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only values JSON cannot hold (a NaN in a nested table) get here.
		return fmt.Appendf(nil, "%v", v)
	}
	return b
}
