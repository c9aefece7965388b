package dlq

import (
	"context"
	"fmt"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Dead is one dead letter as every dlq command reads it, so that ls,
// peek, stats, replay, move and purge agree on what it is.
type Dead struct {
	// Origin says where it came from and why it died. For a JetStream
	// advisory it is completed from the message the advisory points to:
	// Destination is that message's subject, OriginalTime its time and
	// ReplayCount its mq-replay-count.
	Origin Origin
	// Message is what the dead letter stands for, what filters match and
	// a replay sends: its own message, or the message an advisory points
	// to. It is nil when that message is gone or cannot be followed.
	Message *broker.Message
	// Gone says the message an advisory points to was removed by its
	// stream's limits (or deleted).
	Gone bool
}

// Inspect decodes dead letter m, read from a broker of family brokerName,
// and follows a JetStream advisory to its message through get (see
// Follow).
func Inspect(ctx context.Context, brokerName string, m *broker.Message, get broker.MessageGetter) (Dead, error) {
	return Follow(ctx, Dead{Origin: DecodeOrigin(brokerName, m), Message: m}, get)
}

// Follow completes dead when it is a JetStream advisory: from the message
// the advisory points to, read through get. Without a getter (an advisory
// that was moved to another broker) it is not followed: Message is nil
// and the error, a usage error, says why. Other errors are get's, when
// the message could not be read for another reason than being gone.
// Dead letters of other kinds are returned as they are.
func Follow(ctx context.Context, dead Dead, get broker.MessageGetter) (Dead, error) {
	o := &dead.Origin
	if o.Convention != ConventionAdvisory {
		return dead, nil
	}
	dead.Message = nil
	if get == nil {
		return dead, mqerr.Usagef("this JetStream advisory points to %s seq %d on a NATS server this context does not connect to", o.Stream, o.StreamSeq)
	}
	orig, err := get.GetMessage(ctx, o.Stream, o.StreamSeq)
	switch {
	case mqerr.Is(err, mqerr.NotFound):
		dead.Gone = true
		return dead, nil
	case err != nil:
		return dead, fmt.Errorf("reading %s seq %d, which the advisory points to: %w", o.Stream, o.StreamSeq, err)
	}
	dead.Message = orig
	o.Destination = orig.NATS.Subject
	o.OriginalTime = orig.Timestamp
	o.ReplayCount = ReplayCount(orig)
	return dead, nil
}

// Where names where the dead letter came from for counting and display:
// the original destination, else the stream an advisory points into.
func (o Origin) Where() string {
	if o.Destination != "" {
		return o.Destination
	}
	return o.Stream
}
