// Package consume is the logic of `mqctl consume`: where to start, which
// messages to show, how to print them, how to run a handler for each, and
// the loop that settles a delivery only after it was written or handled.
package consume

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// FutureSkew is how far ahead of the local clock a --from time may be:
// clock skew between hosts, not a time to wait for.
const FutureSkew = time.Minute

// ParseFrom parses a --from that was given: beginning, end, stored, an offset N (a stream
// sequence on JetStream), -N (the last N; -0, the last none, is the end), an RFC 3339 time, or a
// duration ago such as 15m or 2h30m. now anchors the duration. A time more
// than FutureSkew after now is refused: the brokers would start at their end
// and deliver what comes before that time.
func ParseFrom(s string, now time.Time) (broker.StartPosition, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		// Left out, --from means the default; given empty it is
		// most likely an unset shell variable.
		return broker.StartPosition{}, mqerr.Usagef("--from is empty: want beginning, end, stored, an offset N, -N (the last N), an RFC 3339 time or a duration ago like 15m (leave --from out for the default)")
	case "beginning", "oldest", "earliest", "first":
		return broker.StartPosition{Kind: broker.StartBeginning}, nil
	case "end", "newest", "latest", "new":
		return broker.StartPosition{Kind: broker.StartEnd}, nil
	case "stored", "committed":
		return broker.StartPosition{Kind: broker.StartStored}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n == math.MinInt64 {
			// -n would overflow to itself.
			return broker.StartPosition{}, mqerr.Usagef("--from %q: out of range", s)
		}
		if n < 0 {
			return broker.StartPosition{Kind: broker.StartLast, N: -n}, nil
		}
		if strings.HasPrefix(s, "-") {
			// -0, the last none: only what comes from now on.
			return broker.StartPosition{Kind: broker.StartEnd}, nil
		}
		return broker.StartPosition{Kind: broker.StartOffset, N: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.After(now.Add(FutureSkew)) {
			return broker.StartPosition{}, mqerr.Usagef("--from %s is in the future (now is %s): want a time up to now", s, now.UTC().Format(time.RFC3339))
		}
		return broker.StartPosition{Kind: broker.StartTime, Time: t}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return broker.StartPosition{Kind: broker.StartTime, Time: now.Add(-d)}, nil
	}
	return broker.StartPosition{}, mqerr.Usagef("--from %q: want beginning, end, stored, an offset N, -N (the last N), an RFC 3339 time or a duration ago like 15m", s)
}
