// Package dlq is mqctl's knowledge of dead letters: the headers mqctl
// writes when it dead-letters a message (mq-original-*, mq-death-*), how to
// read where a dead letter came from and why out of any of the conventions
// brokers and frameworks use, and the replay, purge and move logic of
// `mqctl dlq`.
package dlq

import (
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// mqctl's own headers. They never start with "x-": RabbitMQ owns those.
const (
	HeaderOriginalBroker      = "mq-original-broker"
	HeaderOriginalDestination = "mq-original-destination"
	HeaderOriginalPartition   = "mq-original-partition"
	HeaderOriginalOffset      = "mq-original-offset"
	HeaderOriginalExchange    = "mq-original-exchange"
	HeaderOriginalRoutingKey  = "mq-original-routing-key"
	HeaderOriginalQueue       = "mq-original-queue"
	HeaderOriginalSubject     = "mq-original-subject"
	HeaderOriginalStream      = "mq-original-stream"
	HeaderOriginalStreamSeq   = "mq-original-stream-seq"
	HeaderOriginalTimestamp   = "mq-original-timestamp"
	HeaderDeathReason         = "mq-death-reason"
	HeaderDeathTime           = "mq-death-time"
	HeaderDeathCount          = "mq-death-count"
	HeaderReplayCount         = "mq-replay-count"
)

// Death says why and when a message was dead-lettered by mqctl.
type Death struct {
	Reason string
	Time   time.Time
	// Count is how many times handling was attempted.
	Count int
}

// DeadLetter returns the message to publish to a dead-letter destination
// for m, read from brokerName: m's key, value and headers, minus any
// mq-original-* and mq-death-* headers of an earlier death, plus headers
// naming where m came from and why it died. Its routing fields are
// cleared; the publisher sets the destination.
//
// A JetStream message's copy does not keep its Nats-Msg-Id: within the
// duplicate window the dead-letter stream (the same stream, when DEST is
// one of its subjects) would take the copy for the original and drop it
// while acking, and the message would be lost. The copy is sent as
// deadLetterMsgID names it, and the first id goes in mq-msg-id, as replay
// and move do; the other JetStream publish headers go too (see
// jetStreamHeaders).
func DeadLetter(brokerName string, m *broker.Message, d Death) *broker.Message {
	out := &broker.Message{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Kafka: broker.KafkaMeta{Partition: -1}}
	out.AMQP = broker.AMQPMeta{
		ContentType: m.AMQP.ContentType, MessageID: m.AMQP.MessageID, CorrelationID: m.AMQP.CorrelationID,
		ReplyTo: m.AMQP.ReplyTo, Priority: m.AMQP.Priority, Type: m.AMQP.Type, AppID: m.AMQP.AppID,
		ContentEncoding: m.AMQP.ContentEncoding, UserID: m.AMQP.UserID,
		Persistent: m.AMQP.Persistent, Transient: m.AMQP.Transient,
	}
	for _, h := range m.Headers {
		if !isOurDeathHeader(h.Key) {
			out.Headers = append(out.Headers, h)
		}
	}
	add := func(k, v string) {
		if v != "" {
			out.Headers = append(out.Headers, broker.Header{Key: k, Value: []byte(v)})
		}
	}
	add(HeaderOriginalBroker, brokerName)
	switch broker.MetaKindOf(brokerName) {
	case broker.MetaKafka:
		add(HeaderOriginalDestination, m.Destination)
		add(HeaderOriginalPartition, strconv.FormatInt(int64(m.Kafka.Partition), 10))
		add(HeaderOriginalOffset, strconv.FormatInt(m.Kafka.Offset, 10))
	case broker.MetaAMQP:
		// Replay goes back through the exchange and routing key the
		// message was first published with; the queue says where it sat.
		add(HeaderOriginalDestination, m.AMQP.Queue)
		add(HeaderOriginalExchange, m.AMQP.Exchange)
		add(HeaderOriginalRoutingKey, m.AMQP.RoutingKey)
		add(HeaderOriginalQueue, m.AMQP.Queue)
	case broker.MetaNATS:
		id := OriginalID(m)
		out.Headers = jetStreamHeaders(out.Headers, id)
		out.NATS.MsgID = deadLetterMsgID(id, m)
		dest := m.NATS.Subject
		if dest == "" {
			dest = m.Destination
		}
		add(HeaderOriginalDestination, dest)
		add(HeaderOriginalSubject, m.NATS.Subject)
		add(HeaderOriginalStream, m.NATS.Stream)
		if m.NATS.StreamSeq > 0 {
			add(HeaderOriginalStreamSeq, strconv.FormatUint(m.NATS.StreamSeq, 10))
		}
	}
	if !m.Timestamp.IsZero() {
		add(HeaderOriginalTimestamp, m.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderDeathReason, d.Reason)
	if !d.Time.IsZero() {
		add(HeaderDeathTime, d.Time.UTC().Format(time.RFC3339Nano))
	}
	if d.Count > 0 {
		add(HeaderDeathCount, strconv.Itoa(d.Count))
	}
	return out
}

// deadLetterMsgID is the Nats-Msg-Id of the dead-letter copy of JetStream
// message m: "<id>:dead-letter:<stream>:<seq>" (id left out when m has
// none), so a copy sent again after a crash (the source was not acked) is
// de-duplicated, and no copy is ever taken for m itself. A message without
// a stream sequence (core NATS) gets none.
func deadLetterMsgID(id string, m *broker.Message) string {
	if m.NATS.StreamSeq == 0 {
		return ""
	}
	where := "dead-letter:" + m.NATS.Stream + ":" + strconv.FormatUint(m.NATS.StreamSeq, 10)
	if id == "" {
		return where
	}
	return id + ":" + where
}

func isOurDeathHeader(k string) bool {
	return strings.HasPrefix(k, "mq-original-") || strings.HasPrefix(k, "mq-death-")
}
