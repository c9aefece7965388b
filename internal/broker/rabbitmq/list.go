package rabbitmq

import (
	"context"
	"errors"
	"slices"
	"sort"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// List lists the queues of the connection's vhost that q selects, sorted
// by name. It needs the management API: AMQP has no way to enumerate
// queues. The API's counts are as of the broker's last statistics sample
// (Stats lag.StatsSampled), or unknown for a queue declared a moment ago
// (lag.StatsAbsent: Messages 0, Ready and Unacked nil). The queues in
// q.Names are read exactly as well, by passive declare (see Lag). RabbitMQ
// has no internal queues, so q.Internal is refused.
func (c *Conn) List(ctx context.Context, q broker.ListQuery) ([]broker.Destination, error) {
	if q.Internal {
		return nil, mqerr.Wrap(mqerr.Unsupported, errors.New("rabbitmq has no internal queues"))
	}
	qs, err := c.queues(ctx, queueColumns)
	if mqerr.Is(err, mqerr.Unreachable) {
		return nil, mqerr.New(mqerr.Unreachable, "listing queues needs the RabbitMQ management API (AMQP cannot enumerate queues): %v; enable the rabbitmq_management plugin or set --management-url (management_url in the context)", err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]broker.Destination, 0, len(qs))
	for _, a := range qs {
		if len(q.Names) > 0 && !slices.Contains(q.Names, a.Name) {
			continue
		}
		out = append(out, c.destination(a.queue()))
	}
	if len(q.Names) > 0 {
		exact, err := c.exactCounts(ctx, q.Names)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if e, ok := exact[out[i].Name]; ok {
				destinationExact(&out[i], e)
				delete(exact, out[i].Name)
			}
		}
		// Queues created after the API listed the vhost.
		for name, e := range exact {
			d := c.destination(Queue{Name: name}) // type unknown
			destinationExact(&d, e)
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sharedColumns are every role's columns at once: List's, Lag's and
// DeadLetterDestinations'.
const sharedColumns = queueColumns + "," + countColumns + ",state,exclusive,policy,effective_policy_definition,head_message_timestamp," +
	"message_stats.publish_details.rate,message_stats.deliver_get_details.rate," +
	"message_stats.ack_details.rate,message_stats.deliver_no_ack_details.rate," +
	"message_stats.get_no_ack_details.rate"

// sharedQueues keys the listing of one connection's vhost in a refresh's
// shared reads.
type sharedQueues struct{ c *Conn }

// queues lists the vhost's queues in name order, with the columns a role
// asks for. Within a refresh's shared reads (broker.ShareReads) one paged
// listing with every role's columns answers List, Lag and
// DeadLetterDestinations; the queues it returns are then shared, and
// nobody changes them.
func (c *Conn) queues(ctx context.Context, columns string) ([]apiQueue, error) {
	if broker.Sharing(ctx) {
		columns = sharedColumns
	}
	return broker.Shared(ctx, sharedQueues{c}, func() ([]apiQueue, error) {
		var out []apiQueue
		err := c.mgmt.eachQueue(ctx, c.vhost, columns, func(a apiQueue) { out = append(out, a) })
		if err != nil {
			return nil, err
		}
		return out, nil
	})
}

func (c *Conn) destination(q Queue) broker.Destination {
	d := broker.Destination{
		Broker:    "rabbitmq",
		Type:      "queue",
		Name:      q.Name,
		VHost:     q.VHost,
		QueueType: q.Type,
		Ready:     q.Ready,
		Unacked:   q.Unacked,
		Consumers: q.Consumers,
		Stats:     lag.StatsSampled,
	}
	if d.VHost == "" {
		d.VHost = c.vhost
	}
	if q.Messages != nil {
		d.Messages = *q.Messages
	}
	if q.Ready == nil || q.Unacked == nil {
		d.Stats = lag.StatsAbsent
	}
	return d
}

// destinationExact puts a passive declare's counts into d: ready and
// consumers exact, unacked still the API's (unknown when it had none).
func destinationExact(d *broker.Destination, q amqp.Queue) {
	ready := int64(q.Messages)
	behind := d.Stats == lag.StatsAbsent || d.Ready == nil || *d.Ready != ready || d.Consumers != q.Consumers
	d.Ready, d.Consumers = &ready, q.Consumers
	d.Messages = ready
	if d.Unacked != nil {
		d.Messages += *d.Unacked
	}
	d.Stats = lag.StatsExact
	if behind {
		d.Stats = lag.StatsBehind
	}
}
