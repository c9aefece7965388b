package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// List implements broker.Lister with one destination per JetStream stream,
// sorted by name; q.Names selects streams. JetStream has no internal
// streams, so q.Internal is refused.
//
// Core NATS subjects exist only while someone subscribes, so a server
// without JetStream has nothing to list: that is an empty list, not an
// error.
func (c *Conn) List(ctx context.Context, q broker.ListQuery) ([]broker.Destination, error) {
	if q.Internal {
		return nil, mqerr.Wrap(mqerr.Unsupported, errors.New("nats has no internal streams"))
	}
	streams, err := c.streamInfos(ctx)
	if err != nil {
		if jetStreamMissing(err) {
			return []broker.Destination{}, nil
		}
		return nil, fmt.Errorf("list nats streams at %s: %w", c.hosts, err)
	}
	out := []broker.Destination{}
	for _, info := range streams {
		if len(q.Names) > 0 && !slices.Contains(q.Names, info.Config.Name) {
			continue
		}
		out = append(out, broker.Destination{
			Broker:    "nats",
			Type:      "stream",
			Name:      info.Config.Name,
			Subjects:  info.Config.Subjects,
			Messages:  int64(info.State.Msgs),
			Written:   int64(info.State.LastSeq),
			Bytes:     info.State.Bytes,
			Consumers: info.State.Consumers,
		})
	}
	return out, nil
}

var _ broker.EmptyExplainer = (*Conn)(nil)

// WhyEmpty implements broker.EmptyExplainer: lag's empty answer on a
// server or account without JetStream (Lag lists nothing there) is an
// error, as RabbitMQ's lag without its management API is.
func (c *Conn) WhyEmpty(ctx context.Context) error {
	if _, err := c.js.AccountInfo(ctx); err != nil && jetStreamMissing(err) {
		return c.noJetStream()
	}
	return nil
}

// noJetStream is the error of lag and dlq ls on a server or account
// without JetStream: an exit 1, as when RabbitMQ's management API, which
// they need there, is unreachable.
func (c *Conn) noJetStream() error {
	return mqerr.New(mqerr.Failure, "JetStream is not enabled on nats at %s: no streams or consumers", c.hosts)
}

// jetStreamMissing reports a server or account without JetStream. A single
// server without it has no responder on the JetStream API subjects.
func jetStreamMissing(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}
