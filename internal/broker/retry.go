package broker

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"
)

// AttemptHeader carries, on a message parked for a delayed retry, the
// handler attempt its next delivery is (2 for the first retry). Drivers
// whose broker counts deliveries itself (JetStream) do not write it.
const AttemptHeader = "mqctl-attempt"

// RetryOptions say what a Retrier parks messages for.
type RetryOptions struct {
	// Sources are the consumer's sources (topics, the queue, the stream).
	Sources []string
	// Delays are the waits, one per retry, in order.
	Delays []time.Duration
	// Group is the Kafka consumer group that reads the retry topics back.
	Group string
}

// DelayedRetries is the role of a driver that can park a failed message
// in the broker for a delay and deliver it again to the same consumer,
// so the consumer goes on with other messages while it waits
// (`consume --exec --on-fail retry=30s,2m`).
type DelayedRetries interface {
	// NewRetrier prepares (declares when missing) the broker's waiting
	// places for o and returns the Retrier that parks deliveries there.
	// A driver that cannot do it for o says why with an mqerr.Usage
	// error.
	NewRetrier(ctx context.Context, o RetryOptions) (Retrier, error)
}

// Retrier parks failed deliveries for a delay.
type Retrier interface {
	// Attempt is the handler attempt m is: 1 for a message never retried.
	Attempt(m *Message) int
	// Retry parks d's message for Delays[i] and settles d only after the
	// broker holds it (a copy confirmed into the waiting place, or the
	// broker's own delayed redelivery). The message comes back as
	// attempt next. On error d was not settled.
	Retry(ctx context.Context, d *Delivery, i, next int) error
	Close() error
}

// RetryName names the waiting place of source for delay:
// "orders.retry.30s", "orders.retry.2m", "orders.retry.1h30m",
// "orders.retry.1500ms".
func RetryName(source string, delay time.Duration) string {
	return source + ".retry." + DelayName(delay)
}

// DelayName writes delay without zero units: 30s, 2m, 1h30m, 1500ms.
func DelayName(delay time.Duration) string {
	if delay%time.Second != 0 {
		return strconv.FormatInt(delay.Milliseconds(), 10) + "ms"
	}
	s := delay.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// HeaderAttempt reads AttemptHeader from m (the last one when repeated):
// 1 when it is missing or not a number above 0.
func HeaderAttempt(m *Message) int {
	n := 1
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, AttemptHeader) {
			if v, err := strconv.Atoi(string(bytes.TrimSpace(h.Value))); err == nil && v > 0 {
				n = v
			}
		}
	}
	return n
}

// WithAttempt returns hs without AttemptHeader and the names drop
// reports true for, plus AttemptHeader set to attempt. hs is not changed.
func WithAttempt(hs []Header, attempt int, drop func(name string) bool) []Header {
	out := make([]Header, 0, len(hs)+1)
	for _, h := range hs {
		if strings.EqualFold(h.Key, AttemptHeader) || (drop != nil && drop(h.Key)) {
			continue
		}
		out = append(out, h)
	}
	return append(out, Header{Key: AttemptHeader, Value: []byte(strconv.Itoa(attempt))})
}
