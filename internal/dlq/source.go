package dlq

import (
	"context"
	"slices"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Source is a dead-letter source on an open connection: what peek, stats,
// ls, replay, move and purge read, by the CLI and by the TUI alike.
type Source struct {
	Conn   broker.Conn
	Target broker.Target
	Name   string
	// Caps is what the connection's driver says about itself; every
	// difference between brokers below is read from it.
	Caps broker.Capabilities
	// Logf receives warnings the user should see; nil drops them.
	Logf func(format string, args ...any)
}

// NewSource returns the source name on conn.
func NewSource(conn broker.Conn, t broker.Target, name string, logf func(format string, args ...any)) *Source {
	caps, ok := broker.CapabilitiesOf(conn)
	if !ok {
		caps.Name = conn.Broker()
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Source{Conn: conn, Target: t, Name: name, Caps: caps, Logf: logf}
}

// Broker is the source's broker family, as dead letters and envelopes
// name it.
func (s *Source) Broker() string { return s.Caps.Name }

// ReadMode says how a dlq command reads its source.
type ReadMode int

const (
	// ReadPeek reads from the start without side effects, as far as the
	// broker allows (Capabilities.PeekMarksRedelivered).
	ReadPeek ReadMode = iota
	// ReadDryRun is a peek that starts where the real run would: at the
	// commits of the run's group, where the source reads through one.
	ReadDryRun
	// ReadRemove reads so that an ack removes the dead letter: an ack, a
	// commit in the group, or a delete of the stored message.
	ReadRemove
)

// ReadsByGroup says the source's progress is kept as commits of a
// consumer group (the driver takes the dlq --group flag): a dead letter
// leaves it by a commit, the record itself stays in the log.
func (s *Source) ReadsByGroup() bool { return readsByGroup(s.Caps) }

func readsByGroup(c broker.Capabilities) bool { return slices.Contains(c.Flags["dlq"], "group") }

// Consumer opens the source for reading what it holds now, in mode.
func (s *Source) Consumer(ctx context.Context, mode ReadMode, group string, prefetch int) (broker.Consumer, error) {
	sub, err := broker.As[broker.Subscriber](s.Conn, "reading dead letters")
	if err != nil {
		return nil, err
	}
	o := broker.ConsumerOptions{Sources: []string{s.Name}, UntilEnd: true, Peek: mode != ReadRemove, Prefetch: prefetch, Logf: s.Logf}
	switch {
	case s.ReadsByGroup():
		if mode == ReadPeek {
			o.From = broker.StartPosition{Kind: broker.StartBeginning}
		} else {
			// A peek with a group reads from its commits without joining.
			o.Group = group
		}
	case s.Caps.PurgeAfterCopy:
		// A stream that keeps what was acked: removing a dead letter
		// deletes its stored message.
		o.AckDeletes = mode == ReadRemove
	}
	cctx, cancel := s.timeout(ctx)
	defer cancel()
	return sub.NewConsumer(cctx, o)
}

// Getter follows JetStream advisories to their messages; nil on brokers
// that hold none.
func (s *Source) Getter() broker.MessageGetter {
	g, _ := s.Conn.(broker.MessageGetter)
	return g
}

// MaxHeld is the most deliveries a consumer that holds what it reads
// (Capabilities.PeekHolds) can hold unacked: RabbitMQ's basic.qos carries
// the prefetch count in 16 bits. A peek, a dry run and stats hold
// everything they read; replay holds its in-flight window.
const MaxHeld = 65535

// CheckHeld refuses a count flag that would make the consumer hold more
// than it can, naming the flag rather than the prefetch behind it.
func (s *Source) CheckHeld(flag string, n int) error {
	if s.Caps.PeekHolds && n > MaxHeld {
		return mqerr.Usagef("--%s %d: %s holds at most %d messages unacked at a time (its prefetch count is 16 bits)", flag, n, s.Caps.Name, MaxHeld)
	}
	return nil
}

// Depth is how many messages the source holds, from the broker's listing;
// 0 when it cannot say.
func (s *Source) Depth(ctx context.Context) int64 {
	lister, ok := s.Conn.(broker.Lister)
	if !ok {
		return 0
	}
	lctx, cancel := s.timeout(ctx)
	defer cancel()
	dests, err := lister.List(lctx, broker.ListQuery{})
	if err != nil {
		return 0
	}
	for _, d := range dests {
		if d.Name == s.Name {
			return d.Messages
		}
	}
	return 0
}

// timeout bounds one request-response exchange with the target's timeout.
func (s *Source) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.Target.EffectiveTimeout())
}
