package dlq

import (
	"strconv"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
)

// Headers a replay drops: the bookkeeping of the death it undoes. The
// message goes back to where it came from as it was sent there, so what
// brokers and frameworks recorded about its failure is stale:
//   - RabbitMQ's x-death, x-first-death-*, x-last-death-*, and
//     broker.RedeliveryCountHeaders (a quorum queue's counts of earlier
//     deliveries);
//   - our mq-original-*, mq-death-* (and mq-replay-count, set anew);
//   - Spring's kafka_dlt-* and retry_topic-* (left in place, a retry
//     topic's attempt count would send a replayed record that fails once
//     straight back to the dead-letter topic);
//   - Kafka Connect's __connect.errors.*.
var (
	strippedNames    = append([]string{headerXDeath, HeaderReplayCount}, broker.RedeliveryCountHeaders...)
	strippedPrefixes = []string{
		"x-first-death-", "x-last-death-",
		"mq-original-", "mq-death-",
		springPrefix, "retry_topic-",
		connectPrefix,
	}
)

// StripForReplay returns the headers a replay of m sends: m's headers in
// order without the death bookkeeping listed above, then mq-replay-count
// set to one more than m's. The values share memory with m's headers.
func StripForReplay(m *broker.Message) []broker.Header {
	out := make([]broker.Header, 0, len(m.Headers)+1)
	for _, h := range m.Headers {
		if !stripped(h.Key) {
			out = append(out, h)
		}
	}
	next := strconv.Itoa(ReplayCount(m) + 1)
	return append(out, broker.Header{Key: HeaderReplayCount, Value: []byte(next)})
}

func stripped(key string) bool {
	for _, n := range strippedNames {
		if key == n {
			return true
		}
	}
	for _, p := range strippedPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
