package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.LagReader = (*Conn)(nil)

// ErrNoManagementAPI is in the chain of the mqerr.Unreachable error Lag
// returns when the management API cannot be reached. A command that knows
// literal queue names can then call LagByName, and say on stderr that it
// reports ready counts and consumers only.
// It is also broker.ErrCannotList, which is what the command checks.
var ErrNoManagementAPI error = noManagementAPI{}

type noManagementAPI struct{}

func (noManagementAPI) Error() string        { return "rabbitmq lag needs the management API" }
func (noManagementAPI) Is(target error) bool { return target == broker.ErrCannotList }

// lagColumns are what Lag asks of /api/queues: the counts, the consumers,
// the rates and the cumulative message counts, nothing per message or per
// consumer.
const lagColumns = "name,state,messages_ready,messages_unacknowledged,consumers," +
	"message_stats.publish_details.rate,message_stats.deliver_get_details.rate," +
	"message_stats.ack_details.rate,message_stats.deliver_no_ack_details.rate," +
	"message_stats.get_no_ack_details.rate," + countColumns

// countColumns are the queues' cumulative message counts.
const countColumns = "message_stats.publish,message_stats.deliver_get,message_stats.ack"

// counts are s's cumulative counts of published, delivered and acked
// messages: all nil when the API has no message_stats for the queue (it
// sends none for a queue that never saw a message, or before its first
// sample), and 0 for an operation missing from them (the API sends only
// those that happened).
func (s *messageStats) counts() (published, delivered, acked *int64) {
	if s == nil {
		return nil, nil, nil
	}
	zero := func(p *int64) *int64 {
		if p == nil {
			return new(int64)
		}
		return p
	}
	return zero(s.PublishCount), zero(s.DeliverGetCount), zero(s.AckCount)
}

// Row states this driver sets itself, beside the broker's queue states.
const (
	// stateNoStats: the broker has no counts for the queue yet (declared a
	// moment ago, or just after a restart); its ready and unacked read 0.
	stateNoStats = "no statistics yet"
	// statePassive marks a row read by LagByName.
	statePassive = "passive-declare: ready and consumers only"
)

// maxDrain caps DrainTime: a queue that takes longer than this to empty
// is, for anyone reading the estimate, never going to.
const maxDrain = 100 * 365 * 24 * time.Hour

// Lag reports one row per queue of the connection's vhost that q.Match
// selects (all of them when it is nil), in name order, from the
// management API: one request per page of queues, never one per queue.
//
// Lag is ready + unacked. Rates are the broker's averages over its last
// sampling window, 0 when the queue has not seen that operation recently;
// the broker updates counts and rates every few seconds, so a row can be
// that much old (Stats lag.StatsSampled), and a queue declared a moment
// ago has no counts yet (lag.StatsAbsent). The queues in q.Names are read
// exactly as well, by passive declare, and their rows carry the exact
// ready count and consumers (lag.StatsExact, or lag.StatsBehind when the
// API's figures were behind); names that are no queue are left out, for
// the command to report. DrainTime is estimated from the rates (see
// drainTime). With q.TimeLag, TimeLag is the age of the oldest ready
// message by its publisher's timestamp property (see timeLag).
//
// When the API cannot be reached, Lag returns an mqerr.Unreachable error
// wrapping ErrNoManagementAPI; AMQP cannot enumerate queues, so only
// LagByName with literal names can stand in.
func (c *Conn) Lag(ctx context.Context, q broker.LagQuery) ([]lag.Row, error) {
	columns := lagColumns
	if q.TimeLag {
		columns += ",head_message_timestamp"
	}
	var rows []lag.Row
	queues, err := c.queues(ctx, columns)
	now := time.Now()
	for _, a := range queues {
		if q.Match == nil || q.Match(a.Name) {
			r := lagRow(a)
			if q.TimeLag {
				if r.TimeLag = timeLag(r, a, now); r.TimeLag > 0 {
					r.TimeLagOf = lag.TimeLagOldestReady
				}
			}
			rows = append(rows, r)
		}
	}
	if mqerr.Is(err, mqerr.Unreachable) {
		if q.Match == nil {
			return nil, mqerr.Wrap(mqerr.Unreachable, fmt.Errorf("%w to list queues (AMQP cannot enumerate them): %w; enable the rabbitmq_management plugin, set --management-url (management_url in the context), or name the queues to read their ready counts over AMQP", ErrNoManagementAPI, err))
		}
		return nil, mqerr.Wrap(mqerr.Unreachable, fmt.Errorf("%w for unacked counts, rates and name patterns: %w; enable the rabbitmq_management plugin or set --management-url (management_url in the context); queues named literally can be read over AMQP (ready and consumers only)", ErrNoManagementAPI, err))
	}
	if err != nil {
		return nil, err
	}
	if len(q.Names) == 0 {
		return rows, nil
	}
	exact, err := c.exactCounts(ctx, q.Names)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if e, ok := exact[rows[i].Queue]; ok {
			applyExact(&rows[i], e)
			delete(exact, rows[i].Queue)
		}
	}
	// Queues created after the API listed the vhost.
	for name, e := range exact {
		r := lagRow(apiQueue{Name: name})
		applyExact(&r, e)
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b lag.Row) int { return strings.Compare(a.Queue, b.Queue) })
	return rows, nil
}

// timeLag is now minus the queue's head_message_timestamp: the timestamp
// property its publisher set on the oldest ready message, in whole
// seconds, as the broker last sampled it. It is 0 (unknown) when the API
// gives none: no ready message, a head message without the property, or
// a queue type that does not report it (RabbitMQ 3.10 reports it for
// classic queues only, not quorum or stream queues), and when the
// timestamp is in the future (the publisher's clock is ahead). Messages
// delivered and not yet acknowledged are older, but the API does not
// tell their age.
func timeLag(r lag.Row, a apiQueue, now time.Time) time.Duration {
	head := headTime(a.HeadTimestamp)
	if head.IsZero() || r.Ready == 0 || !now.After(head) {
		return 0
	}
	return now.Sub(head)
}

// applyExact puts a passive declare's counts into r: ready and consumers
// exact, unacked still the API's.
func applyExact(r *lag.Row, q amqp.Queue) {
	behind := r.Stats == lag.StatsAbsent || r.Ready != int64(q.Messages) || r.Consumers != q.Consumers
	r.Ready, r.Consumers = int64(q.Messages), q.Consumers
	r.Lag = r.Ready + r.Unacked
	r.Stats = lag.StatsExact
	if behind {
		r.Stats = lag.StatsBehind
	}
}

// lagRow turns one queue of the API into a row. Every field the API left
// out reads 0.
func lagRow(a apiQueue) lag.Row {
	r := lag.Row{
		Broker:    lag.BrokerRabbitMQ,
		Kind:      lag.KindQueue,
		Queue:     a.Name,
		Partition: lag.Unknown,
		Committed: lag.Unknown,
		End:       lag.Unknown,
		State:     a.State,
	}
	r.Stats = lag.StatsSampled
	if a.Ready == nil || a.Unacked == nil {
		r.State, r.Stats = stateNoStats, lag.StatsAbsent
	}
	if a.Ready != nil {
		r.Ready = *a.Ready
	}
	if a.Unacked != nil {
		r.Unacked = *a.Unacked
	}
	if a.Consumers != nil {
		r.Consumers = *a.Consumers
	}
	r.Lag = r.Ready + r.Unacked
	r.Published, r.Delivered, r.Acked = a.MessageStats.counts()
	if s := a.MessageStats; s != nil {
		r.PublishRate = s.Publish.value()
		r.DeliverRate = s.DeliverGet.value()
		r.AckRate = s.Ack.value()
		// What leaves the queue for good: acks, and deliveries and gets
		// without ack. DeliverRate also counts redeliveries, which a
		// consumer that nacks with requeue turns in a loop without
		// draining anything, so it is not used here.
		out := r.AckRate + s.DeliverNoAck.value() + s.GetNoAck.value()
		r.DrainTime = drainTime(r.Lag, r.PublishRate, out)
	}
	return r
}

// value is the rate, 0 when the API did not send it.
func (r *rate) value() float64 {
	if r == nil {
		return 0
	}
	return r.Rate
}

// drainTime estimates how long n waiting messages take to go at the
// current rates: n / (out - in). It is 0 (unknown) when nothing waits or
// the queue is not draining (out <= in), and at most maxDrain. Rates
// swing, so this is a hint for a person, not a promise.
func drainTime(n int64, in, out float64) time.Duration {
	if n <= 0 || out <= in {
		return 0
	}
	secs := float64(n) / (out - in)
	if secs >= maxDrain.Seconds() {
		return maxDrain
	}
	return time.Duration(secs * float64(time.Second))
}

// LagByName reads the named queues over AMQP, one passive declare each,
// for when the management API cannot be reached. A passive declare tells
// only the ready count and the consumers: rows say lag.StatsPartial
// (unacked and rates unknown, left 0 but never printed as such), Lag is
// the ready count alone, a lower bound, and State says so. Rows come in the
// order of names, repeated names once. A name that is not a queue of the
// vhost makes it return an mqerr.NotFound error naming every such queue.
func (c *Conn) LagByName(ctx context.Context, names []string) ([]lag.Row, error) {
	if len(names) == 0 {
		return nil, mqerr.Usagef("reading rabbitmq lag over AMQP needs queue names: AMQP cannot enumerate queues")
	}
	// passiveRows stops at the next queue once ctx has ended.
	return aside(ctx, func() ([]lag.Row, error) { return c.passiveRows(ctx, names) }, nil,
		fmt.Sprintf("rabbitmq at %s: reading queue depths: interrupted", c.addr),
		fmt.Sprintf("rabbitmq at %s did not answer the passive declares in time", c.addr))
}

// passiveRows declares each queue passively (see declarePassive) and
// makes rows of what it learns.
func (c *Conn) passiveRows(ctx context.Context, names []string) ([]lag.Row, error) {
	found, missing, err := c.declarePassive(ctx, names)
	if err != nil {
		return nil, err
	}
	rows := make([]lag.Row, 0, len(found))
	for _, q := range found {
		rows = append(rows, lag.Row{
			Broker:    lag.BrokerRabbitMQ,
			Kind:      lag.KindQueue,
			Queue:     q.Name,
			Partition: lag.Unknown,
			Committed: lag.Unknown,
			End:       lag.Unknown,
			Ready:     int64(q.Messages),
			Lag:       int64(q.Messages),
			Consumers: q.Consumers,
			State:     statePassive,
			Stats:     lag.StatsPartial,
		})
	}
	for i, m := range missing {
		missing[i] = fmt.Sprintf("%q", m)
	}
	switch len(missing) {
	case 0:
		return rows, nil
	case 1:
		return nil, mqerr.New(mqerr.NotFound, "rabbitmq at %s: queue %s does not exist in vhost %q", c.addr, missing[0], c.vhost)
	}
	return nil, mqerr.New(mqerr.NotFound, "rabbitmq at %s: queues %s do not exist in vhost %q", c.addr, strings.Join(missing, ", "), c.vhost)
}

// exactCounts reads the named queues by passive declare, bounded by ctx:
// the exact ready count and consumers of each that exists, by name.
func (c *Conn) exactCounts(ctx context.Context, names []string) (map[string]amqp.Queue, error) {
	found, err := aside(ctx, func() ([]amqp.Queue, error) {
		found, _, err := c.declarePassive(ctx, names)
		return found, err
	}, nil,
		fmt.Sprintf("rabbitmq at %s: reading queue depths: interrupted", c.addr),
		fmt.Sprintf("rabbitmq at %s did not answer the passive declares in time", c.addr))
	if err != nil {
		return nil, err
	}
	out := make(map[string]amqp.Queue, len(found))
	for _, q := range found {
		out[q.Name] = q
	}
	return out, nil
}

// declarePassive declares each queue passively on one channel, in the
// order of names, repeated names once: the queues that exist, and the
// names that are no queue of the vhost. The broker closes the channel
// when a queue does not exist, so the next declare opens another.
func (c *Conn) declarePassive(ctx context.Context, names []string) (found []amqp.Queue, missing []string, err error) {
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			ch.Close()
		}
	}()
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if ch == nil {
			if ch, err = c.conn.Channel(); err != nil {
				return nil, nil, c.destinationError(err, "queue", name)
			}
		}
		q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
			missing = append(missing, name)
			ch = nil
			continue
		}
		if err != nil {
			return nil, nil, c.destinationError(err, "queue", name)
		}
		found = append(found, q)
	}
	return found, missing, nil
}
