package source

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/tui"
)

// The actions below run the code `mqctl dlq replay SOURCE` and `mqctl dlq
// purge SOURCE` run with their defaults (cmd/dlq_move.go dlqMove and
// dlqPurge): dlq.Run with a dlq.Publisher, settling each dead letter only
// after its copy was confirmed, and broker.Purger. They are the three
// places to point at internal/dlq's entry points once those leave cmd/:
// dlqConsumer, PlanReplay/Replay, Purge.

// ReplayGroup is the Kafka group whose commits mark replayed dead
// letters, the default of `dlq replay --group`: top and the CLI resume
// each other's replays.
const ReplayGroup = "mqctl-dlq"

const (
	// inFlight is `dlq replay --in-flight`'s default.
	inFlight = 1000
	// maxHeld is the most a RabbitMQ consumer holds unacked (basic.qos
	// is 16 bits): a dry run holds what it reads.
	maxHeld = 65535
)

// ReadOnly says whether context i refuses changes.
func (s *Brokers) ReadOnly(i int) bool { return s.Targets[i].ReadOnly }

// writable opens context i for an action, refusing a read-only one again
// below the UI (as requireWritable in cmd/).
func (s *Brokers) writable(ctx context.Context, i int, what string) (broker.Conn, broker.Target, error) {
	t := s.Targets[i]
	if t.ReadOnly {
		return nil, t, mqerr.Usagef("context %q is read-only: %s refused", t.Context, what)
	}
	conn, err := s.conn(ctx, i)
	if err != nil {
		return nil, t, broker.Scrub(err, t.Secrets()...)
	}
	return conn, t, nil
}

// usesGroup says whether the driver settles dead letters by commits in a
// group (the dlq commands take --group there).
func usesGroup(conn broker.Conn) bool {
	caps, _ := broker.CapabilitiesOf(conn)
	return slices.Contains(caps.Flags["dlq"], "group")
}

// dlqConsumer opens dest as `dlq replay` does: remove reads so that an
// ack removes the dead letter (RabbitMQ ack, Kafka commit in
// ReplayGroup, JetStream delete); otherwise a dry run that starts where
// the real run would and holds what it reads.
func dlqConsumer(ctx context.Context, conn broker.Conn, t broker.Target, dest string, remove bool) (broker.Consumer, error) {
	sub, err := broker.As[broker.Subscriber](conn, "reading dead letters")
	if err != nil {
		return nil, err
	}
	caps, _ := broker.CapabilitiesOf(conn)
	o := broker.ConsumerOptions{Sources: []string{dest}, UntilEnd: true, Peek: !remove, AckDeletes: remove, Prefetch: inFlight}
	if usesGroup(conn) {
		o.Group = ReplayGroup
		o.AckDeletes = false
	}
	if !remove && caps.PeekHolds {
		o.Prefetch = maxHeld
	}
	cctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	return sub.NewConsumer(cctx, o)
}

// planCheck counts, in a dry run, where each dead letter the replay would
// send goes: dlq.Run asks the forward step's Check of every selected one.
type planCheck struct {
	*dlq.Publisher
	to map[string]int64
}

func (p *planCheck) Check(d *broker.Delivery, dead dlq.Dead) error {
	err := p.Publisher.Check(d, dead)
	if err == nil {
		dest := dead.Origin.Destination
		if dest == "" {
			_, dest, _ = dead.Origin.AMQPRoute()
		}
		p.to[dest]++
	}
	return err
}

// PlanReplay is `dlq replay SOURCE --dry-run`: what the replay would read
// and where each dead letter would go.
func (s *Brokers) PlanReplay(ctx context.Context, i int, dest string) (tui.Plan, error) {
	conn, t, err := s.writable(ctx, i, "dlq replay")
	if err != nil {
		return tui.Plan{}, err
	}
	b := conn.Broker()
	caps, _ := broker.CapabilitiesOf(conn)
	check := &planCheck{Publisher: &dlq.Publisher{Shape: dlq.Replay, Source: b, Target: b}, to: map[string]int64{}}
	st := &dlq.MoveStats{}
	c, err := dlqConsumer(ctx, conn, t, dest, false)
	if err != nil {
		return tui.Plan{}, broker.Scrub(err, t.Secrets()...)
	}
	getter, _ := conn.(broker.MessageGetter)
	err = dlq.Run(ctx, c, st, dlq.Options{Broker: b, Getter: getter, Forward: check, DryRun: true, DryRunOut: io.Discard,
		Skip: dlq.SkipFor(b, nil), Verb: "replay"})
	p := tui.Plan{Read: st.Read.Load(), Replay: st.Forwarded.Load(), Left: st.Left.Load(), To: check.to,
		Marked: caps.PeekMarksRedelivered && st.Read.Load() > 0, Settle: "removed from " + dest}
	if usesGroup(conn) {
		p.Settle = fmt.Sprintf("committed in group %s (the records stay in %s; a later replay starts after them)", ReplayGroup, dest)
	}
	return p, broker.Scrub(err, t.Secrets()...)
}

// Replay is `dlq replay SOURCE --limit limit --yes`: each dead letter goes
// back where it came from with a confirm and is settled only after it.
func (s *Brokers) Replay(ctx context.Context, i int, dest string, limit int64, st *dlq.MoveStats) error {
	conn, t, err := s.writable(ctx, i, "dlq replay")
	if err != nil {
		return err
	}
	b := conn.Broker()
	pub, err := broker.As[broker.Publisher](conn, "publishing")
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	p, err := pub.NewProducer(pctx, broker.ProducerOptions{PerMessageDestination: true, InFlight: inFlight, Mandatory: true, Persistent: true})
	cancel()
	if err != nil {
		return broker.Scrub(err, t.Secrets()...)
	}
	defer p.Close()
	// A dead letter passed over (left in place) goes to the tail of its
	// queue on RabbitMQ; SkipFor ignores rotate elsewhere.
	rotate := &dlq.Publisher{Shape: dlq.AsIs, Source: b, Target: b, Producer: p, To: dest}
	getter, _ := conn.(broker.MessageGetter)
	run := dlq.Options{Broker: b, Getter: getter, Limit: limit, Verb: "replay", Skip: dlq.SkipFor(b, rotate),
		Forward: &dlq.Publisher{Shape: dlq.Replay, Source: b, Target: b, Producer: p, Duplicates: &st.Duplicates}}
	c, err := dlqConsumer(ctx, conn, t, dest, true)
	if err != nil {
		return broker.Scrub(err, t.Secrets()...)
	}
	return broker.Scrub(dlq.Run(ctx, c, st, run), t.Secrets()...)
}

// Purge is `dlq purge SOURCE --yes`: the broker's own purge of everything
// dest holds now.
func (s *Brokers) Purge(ctx context.Context, i int, dest string) (int64, error) {
	conn, t, err := s.writable(ctx, i, "dlq purge")
	if err != nil {
		return 0, err
	}
	purger, err := broker.As[broker.Purger](conn, "purge")
	if err != nil {
		return 0, err
	}
	pctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	n, err := purger.Purge(pctx, broker.PurgeRequest{Dest: dest})
	return n, broker.Scrub(err, t.Secrets()...)
}
