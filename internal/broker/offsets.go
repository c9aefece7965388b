package broker

import (
	"context"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// OffsetQuery selects the stored positions `mqctl offsets reset` plans
// from.
type OffsetQuery struct {
	// Group is a Kafka consumer group or a JetStream durable consumer.
	Group string
	// Topics maps each Kafka topic (or the JetStream stream) to its
	// partitions; a nil slice means every partition. A nil map means every
	// topic the group has committed on (Kafka) or the durable's stream,
	// looked up by its name (JetStream).
	Topics map[string][]int32
	// At, when not zero, asks each partition's first position at or after
	// this time (OffsetPosition.AtTime).
	At time.Time
}

// OffsetPosition is one partition's stored position and the bounds a new
// one must stay within. Offsets are "the next record the group reads":
// a Kafka committed offset, or a JetStream durable's ack floor + 1.
type OffsetPosition struct {
	Topic     string
	Partition int32
	// Committed is -1 when the group has no position here.
	Committed int64
	// Start is the log start offset (first stream sequence) and End the
	// high watermark (last stream sequence + 1).
	Start, End int64
	// AtTime is the first position at or after OffsetQuery.At (End when
	// nothing is that recent); -1 when At was zero.
	AtTime int64
	// Floor is the lowest position the broker can move to (0: any);
	// OffsetState.FloorWhy says why when it is above 0.
	Floor int64
}

// OffsetState is what a reset plan starts from.
type OffsetState struct {
	// Exists is false when the broker knows nothing of the group: no
	// member and no stored position.
	Exists bool
	// Members counts the live members of the group (Kafka), or the
	// durable's bound push subscriber and waiting pull requests
	// (JetStream): a reset is refused while it is not 0.
	Members int
	// Positions are sorted by topic and partition.
	Positions []OffsetPosition
	// Action says what applying does, in a sentence for the plan ("commit
	// the new offsets for group G").
	Action string
	// Partitioned is true where a topic has partitions (Kafka); a
	// JetStream stream has one position, reported as partition 0.
	Partitioned bool
	// FloorWhy explains a Floor above 0.
	FloorWhy string
	// BelowFloor is the Action of a plan that goes below Floor, where the
	// broker has another way there (JetStream: delete and recreate the
	// consumer); "" refuses such a plan with FloorWhy.
	BelowFloor string
}

// OffsetCommit is one new position to store.
type OffsetCommit struct {
	Topic     string
	Partition int32
	Offset    int64
}

// OffsetResetter reads and moves a consumer group's stored positions:
// Kafka commits offsets for an empty group; JetStream resets a durable
// consumer to a stream sequence in place, where its deliver policy
// allows.
type OffsetResetter interface {
	// ReadOffsets reads the state of q.Group. A topic or partition in
	// q.Topics that does not exist is an mqerr.NotFound error naming it.
	ReadOffsets(ctx context.Context, q OffsetQuery) (OffsetState, error)
	// ResetOffsets stores the new positions of group, refusing with an
	// mqerr.Usage error while the group has live members.
	ResetOffsets(ctx context.Context, group string, to []OffsetCommit) error
}

// LiveMembers is the refusal of a reset while a group has n members
// (mqerr.Usage: exit 2).
func LiveMembers(group string, n int) error {
	what := "live members"
	if n == 1 {
		what = "live member"
	}
	return mqerr.Usagef("group %s has %d %s: stop its consumers first (the offsets of an active group cannot be reset)", group, n, what)
}
