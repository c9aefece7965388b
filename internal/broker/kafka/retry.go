package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Headers of a record parked in a retry topic: where it was first read,
// and when it is due (Unix milliseconds).
const (
	hdrOrigTopic     = "mqctl-original-topic"
	hdrOrigPartition = "mqctl-original-partition"
	hdrOrigOffset    = "mqctl-original-offset"
	hdrRetryDue      = "mqctl-retry-due"
)

var _ broker.DelayedRetries = (*Conn)(nil)

// maxTopicName is the longest topic name Kafka accepts.
const maxTopicName = 249

// NewRetrier implements broker.DelayedRetries with one retry topic per
// source and delay, <topic>.retry.<delay> (created when missing with the
// source's partition count and the broker's default replication). A
// failed record is produced there (acks=all, idempotent) with its key,
// value and headers, plus mqctl-attempt, mqctl-retry-due and, from its
// first failure on, mqctl-original-topic/-partition/-offset; only once
// the broker acknowledged the copy is the record marked handled (and so
// committed). The consumer of the same group reads the retry topics too
// (ConsumerOptions.RetryDelays) and hands a parked record out when it is
// due, as if read from its original topic, partition and offset.
// It needs a group: without one nothing is committed, and the retry
// topics would be read from the beginning by every run.
func (c *Conn) NewRetrier(ctx context.Context, o broker.RetryOptions) (broker.Retrier, error) {
	if o.Group == "" {
		return nil, mqerr.Usagef("kafka: delayed retries need --group: the retry topics are read back by the group, which commits them")
	}
	topics, err := c.admin.ListTopics(ctx, o.Sources...)
	if err != nil {
		return nil, c.classify(err, remaining(ctx))
	}
	// Every source and name is checked before any topic is created: a
	// refused run leaves nothing behind.
	for _, src := range o.Sources {
		if td, ok := topics[src]; !ok || td.Err != nil {
			return nil, mqerr.New(mqerr.NotFound, "topic %q does not exist on kafka at %s", src, hostList(c.seeds))
		}
		for _, d := range o.Delays {
			if name := broker.RetryName(src, d); len(name) > maxTopicName {
				return nil, mqerr.Usagef("retry topic name %q is %d characters long; kafka allows at most %d", name, len(name), maxTopicName)
			}
		}
	}
	for _, src := range o.Sources {
		td := topics[src]
		for _, d := range o.Delays {
			name := broker.RetryName(src, d)
			resp, err := c.admin.CreateTopic(ctx, int32(len(td.Partitions)), -1, nil, name)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				return nil, fmt.Errorf("creating retry topic %q: %w", name, c.classify(err, remaining(ctx)))
			}
		}
	}
	p, err := c.NewProducer(ctx, broker.ProducerOptions{PerMessageDestination: true, InFlight: 100})
	if err != nil {
		return nil, err
	}
	return &retrier{p: p, delays: o.Delays}, nil
}

type retrier struct {
	p      broker.Producer
	delays []time.Duration
}

// Attempt implements broker.Retrier: the mqctl-attempt header.
func (rt *retrier) Attempt(m *broker.Message) int { return broker.HeaderAttempt(m) }

// Retry implements broker.Retrier.
func (rt *retrier) Retry(ctx context.Context, d *broker.Delivery, i, next int) error {
	if i < 0 || i >= len(rt.delays) {
		return mqerr.Usagef("kafka: retry %d of %d delays", i, len(rt.delays))
	}
	delay := rt.delays[i]
	m := &broker.Message{Key: d.Key, Value: d.Value, Timestamp: d.Timestamp, Destination: broker.RetryName(d.Destination, delay)}
	m.Kafka.Partition = -1
	due := time.Now().Add(delay).UnixMilli()
	m.Headers = broker.WithAttempt(d.Headers, next, func(name string) bool { return name == hdrRetryDue })
	if headerValue(d.Headers, hdrOrigTopic) == "" {
		m.Headers = append(m.Headers,
			broker.Header{Key: hdrOrigTopic, Value: []byte(d.Destination)},
			broker.Header{Key: hdrOrigPartition, Value: strconv.AppendInt(nil, int64(d.Kafka.Partition), 10)},
			broker.Header{Key: hdrOrigOffset, Value: strconv.AppendInt(nil, d.Kafka.Offset, 10)})
	}
	m.Headers = append(m.Headers, broker.Header{Key: hdrRetryDue, Value: strconv.AppendInt(nil, due, 10)})
	done := make(chan error, 1)
	rt.p.Publish(ctx, m, func(_ broker.Receipt, err error) { done <- err })
	if err := <-done; err != nil {
		return fmt.Errorf("kafka: parking %s in %q: %w", d.Where(), m.Destination, err)
	}
	return d.Ack(ctx)
}

// Close implements broker.Retrier.
func (rt *retrier) Close() error { return rt.p.Close() }

// headerValue is the last value of header name in hs, "" without one.
func headerValue(hs []broker.Header, name string) string {
	v := ""
	for _, h := range hs {
		if h.Key == name {
			v = string(h.Value)
		}
	}
	return v
}

// retryTopics are the retry topics of sources for delays.
func retryTopics(sources []string, delays []time.Duration) []string {
	var out []string
	for _, s := range sources {
		for _, d := range delays {
			if t := broker.RetryName(s, d); !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// due is when a record of a retry topic may be handed out: its
// mqctl-retry-due header, or at once without one.
func due(r *kgo.Record) time.Time {
	for _, h := range slices.Backward(r.Headers) {
		if h.Key == hdrRetryDue {
			if ms, err := strconv.ParseInt(strings.TrimSpace(string(h.Value)), 10, 64); err == nil {
				return time.UnixMilli(ms)
			}
		}
	}
	return time.Time{}
}

// restoreOrigin makes m, read from a retry topic, look as it was read
// from its original topic, partition and offset.
func restoreOrigin(m *broker.Message) {
	if t := headerValue(m.Headers, hdrOrigTopic); t != "" {
		m.Destination = t
	}
	if p, err := strconv.ParseInt(headerValue(m.Headers, hdrOrigPartition), 10, 32); err == nil {
		m.Kafka.Partition = int32(p)
	}
	if o, err := strconv.ParseInt(headerValue(m.Headers, hdrOrigOffset), 10, 64); err == nil {
		m.Kafka.Offset = o
	}
}
