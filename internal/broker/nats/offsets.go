package nats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.OffsetResetter = (*Conn)(nil)

// ReadOffsets reads a JetStream consumer (q.Group, on the stream q.Topics
// names or found by the consumer's name) as one position: its ack floor
// + 1, within the stream's first sequence and last sequence + 1.
// nats-server resets a consumer in place ($JS.API.CONSUMER.RESET) only
// where its deliver policy allows; Floor says how far back that is, and
// BelowFloor what ResetOffsets does to go further.
func (c *Conn) ReadOffsets(ctx context.Context, q broker.OffsetQuery) (broker.OffsetState, error) {
	stream, ci, err := c.findConsumer(ctx, q)
	if err != nil {
		return broker.OffsetState{}, err
	}
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return broker.OffsetState{}, c.consumerErr(err, stream, q.Group, "reading stream "+stream)
	}
	ss := s.CachedInfo().State
	pos := broker.OffsetPosition{Topic: stream, Committed: int64(ci.AckFloor.Stream) + 1,
		Start: int64(ss.FirstSeq), End: int64(ss.LastSeq) + 1, AtTime: -1}
	if pos.Start > pos.End {
		pos.Start = pos.End
	}
	if !q.At.IsZero() {
		if pos.AtTime, err = c.seqAt(ctx, stream, q.At, pos.End); err != nil {
			return broker.OffsetState{}, err
		}
	}
	st := broker.OffsetState{Exists: true, Members: members(ci), Positions: []broker.OffsetPosition{pos},
		Action: fmt.Sprintf("reset consumer %s of stream %s in place to the new sequence (its pending acks and redelivery counts are dropped)", ci.Name, stream)}
	floor, why, err := c.inPlaceFloor(ctx, stream, ci, pos.End)
	if err != nil {
		return broker.OffsetState{}, err
	}
	st.Positions[0].Floor, st.FloorWhy = floor, why
	st.BelowFloor = fmt.Sprintf("delete consumer %s of stream %s and create it again with the same configuration but deliver policy by_start_sequence from the new sequence, as %s (its pending acks, redelivery counts and creation time are lost)", ci.Name, stream, why)
	return st, nil
}

// inPlaceFloor is the lowest sequence nats-server resets ci to in place
// (0: any; math.MaxInt64: none) and why, from its version and the
// consumer's deliver policy.
func (c *Conn) inPlaceFloor(ctx context.Context, stream string, ci *jetstream.ConsumerInfo, end int64) (int64, string, error) {
	if v := c.nc.ConnectedServerVersion(); !resetsInPlace(v) {
		return math.MaxInt64, fmt.Sprintf("nats-server %s cannot reset a consumer in place ($JS.API.CONSUMER.RESET came in 2.14)", v), nil
	}
	cfg := ci.Config
	switch cfg.DeliverPolicy {
	case jetstream.DeliverAllPolicy:
		return 0, "", nil
	case jetstream.DeliverByStartSequencePolicy:
		return int64(cfg.OptStartSeq), fmt.Sprintf("the consumer starts at sequence %d (deliver policy by_start_sequence) and the server resets it in place no lower", cfg.OptStartSeq), nil
	case jetstream.DeliverByStartTimePolicy:
		floor := int64(0)
		if cfg.OptStartTime != nil {
			var err error
			if floor, err = c.seqAt(ctx, stream, *cfg.OptStartTime, end); err != nil {
				return 0, "", err
			}
		}
		return floor, fmt.Sprintf("the consumer starts at sequence %d (deliver policy by_start_time) and the server resets it in place no lower", floor), nil
	}
	return math.MaxInt64, fmt.Sprintf("nats-server does not reset a consumer with deliver policy %s in place", cfg.DeliverPolicy), nil
}

// ResetOffsets moves consumer group of to's one stream, once it has
// checked again that nothing is bound to it: in place where the server
// allows, else by deleting and recreating it (recreate).
func (c *Conn) ResetOffsets(ctx context.Context, group string, to []broker.OffsetCommit) error {
	if len(to) != 1 {
		return mqerr.Usagef("a JetStream consumer has one position, not %d", len(to))
	}
	stream := to[0].Topic
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return c.consumerErr(err, stream, group, "reading stream "+stream)
	}
	cons, err := s.Consumer(ctx, group)
	if err != nil {
		return c.consumerErr(err, stream, group, "reading consumer "+group)
	}
	ci := cons.CachedInfo()
	if n := members(ci); n > 0 {
		return broker.LiveMembers(group, n)
	}
	seq := max(to[0].Offset, 1)
	floor, _, err := c.inPlaceFloor(ctx, stream, ci, int64(s.CachedInfo().State.LastSeq)+1)
	if err != nil {
		return err
	}
	if seq < floor {
		return c.recreate(ctx, s, ci, uint64(seq))
	}
	if _, err := s.ResetConsumerToSequence(ctx, group, uint64(seq)); err != nil {
		if errors.Is(err, jetstream.ErrConsumerInvalidReset) {
			return mqerr.New(mqerr.Unsupported, "nats at %s refused to reset consumer %s of stream %s to %d: %v", c.hosts, group, stream, seq, err)
		}
		return c.consumerErr(err, stream, group, "resetting consumer "+group)
	}
	return nil
}

// recreate deletes consumer ci and creates it again with its
// configuration but deliver policy by_start_sequence from seq: how a
// consumer the server cannot reset in place moves. When the new
// consumer is refused, the old configuration is created again (from its
// deliver policy's start: the old position is gone with the consumer).
func (c *Conn) recreate(ctx context.Context, s jetstream.Stream, ci *jetstream.ConsumerInfo, seq uint64) error {
	cfg := ci.Config
	moved := cfg
	moved.DeliverPolicy, moved.OptStartSeq, moved.OptStartTime = jetstream.DeliverByStartSequencePolicy, seq, nil
	stream := ci.Stream
	if err := s.DeleteConsumer(ctx, ci.Name); err != nil {
		return c.consumerErr(err, stream, ci.Name, "deleting consumer "+ci.Name+" to recreate it")
	}
	_, err := s.CreateConsumer(ctx, moved)
	if err == nil {
		return nil
	}
	if _, rerr := s.CreateConsumer(ctx, cfg); rerr != nil {
		return fmt.Errorf("consumer %s of stream %s was deleted and neither the moved nor the original configuration could be created again (%v; %v): create it again by hand", ci.Name, stream, err, rerr)
	}
	return fmt.Errorf("nats at %s refused consumer %s of stream %s at sequence %d (%v): it was created again with its original configuration, from where that starts", c.hosts, ci.Name, stream, seq, err)
}

// resetsInPlace says whether a server of version v ("2.14.1") has
// $JS.API.CONSUMER.RESET; an old server would let the request time out.
func resetsInPlace(v string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 2 || major == 2 && minor >= 14
}

// members counts what a reset would pull the ground from under: a bound
// push subscriber and the pull requests waiting.
func members(ci *jetstream.ConsumerInfo) int {
	n := ci.NumWaiting
	if ci.PushBound {
		n++
	}
	return n
}

// findConsumer returns the consumer named q.Group on the stream q.Topics
// names, or on the one stream that has a consumer of that name.
func (c *Conn) findConsumer(ctx context.Context, q broker.OffsetQuery) (string, *jetstream.ConsumerInfo, error) {
	if q.Topics != nil {
		if len(q.Topics) != 1 {
			return "", nil, mqerr.Usagef("a JetStream consumer reads one stream: name it with one --topic")
		}
		for stream, parts := range q.Topics {
			if parts != nil {
				return "", nil, mqerr.Usagef("--topic %s: a JetStream stream has no partitions", stream)
			}
			if err := checkStreamName(stream); err != nil {
				return "", nil, err
			}
			cons, err := c.js.Consumer(ctx, stream, q.Group)
			if err != nil {
				return "", nil, c.consumerErr(err, stream, q.Group, "reading consumer "+q.Group)
			}
			return stream, cons.CachedInfo(), nil
		}
	}
	names, err := c.streamNames(ctx)
	if err != nil {
		return "", nil, c.apiErr(err, "listing streams")
	}
	var found []string
	var info *jetstream.ConsumerInfo
	for _, stream := range names {
		cons, err := c.js.Consumer(ctx, stream, q.Group)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return "", nil, c.consumerErr(err, stream, q.Group, "reading consumer "+q.Group)
		}
		found, info = append(found, stream), cons.CachedInfo()
	}
	switch len(found) {
	case 0:
		return "", nil, mqerr.New(mqerr.NotFound, "no stream has a consumer named %s", q.Group)
	case 1:
		return found[0], info, nil
	}
	return "", nil, mqerr.Usagef("streams %s each have a consumer named %s: name one with --topic", strings.Join(found, ", "), q.Group)
}

// seqAt is the sequence of the first message at or after t, end when
// there is none: one message get by start time.
func (c *Conn) seqAt(ctx context.Context, stream string, t time.Time, end int64) (int64, error) {
	var resp msgGetResponse
	// next_by_subj ">" skips a deleted sequence the time lands on.
	err := c.jsAPI(ctx, "STREAM.MSG.GET."+stream, struct {
		StartTime time.Time `json:"start_time"`
		NextFor   string    `json:"next_by_subj"`
	}{t, ">"}, &resp)
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return end, nil
	case err != nil:
		return 0, c.apiErr(err, "finding the first message of "+stream+" at "+t.UTC().Format(time.RFC3339))
	case resp.Message == nil:
		return end, nil
	}
	return int64(resp.Message.Seq), nil
}

// consumerErr names a stream or consumer that does not exist, and
// classifies anything else.
func (c *Conn) consumerErr(err error, stream, consumer, doing string) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return mqerr.New(mqerr.NotFound, "stream %s does not exist", stream)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return mqerr.New(mqerr.NotFound, "stream %s has no consumer named %s", stream, consumer)
	case errors.Is(err, jetstream.ErrInvalidConsumerName), errors.Is(err, jetstream.ErrInvalidStreamName):
		return mqerr.Usagef("%v", err)
	}
	return c.apiErr(err, doing)
}
