package source

import (
	"context"
	"fmt"
	"io"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/tui"
)

// The dead-letter actions below are `mqctl dlq replay SOURCE` and `mqctl
// dlq purge SOURCE` with their defaults: the same dlq.MoveJob and dlq.PurgeJob
// (cmd/dlq_move.go, cmd/dlq_purge.go), so each dead letter is settled only
// after its copy was confirmed. The model has asked for confirmation
// already, and shows progress and results from the job's stats, so the
// jobs neither ask nor print.

// ReplayGroup is the Kafka group whose commits mark replayed dead
// letters, the default of `dlq replay --group`: top and the CLI resume
// each other's replays.
const ReplayGroup = "mqctl-dlq"

// inFlight is `dlq replay --in-flight`'s default.
const inFlight = 1000

// ReadOnly says whether context i refuses changes.
func (s *Brokers) ReadOnly(i int) bool { return s.Targets[i].ReadOnly }

// source opens dest on context i for an action, refusing a read-only
// context again below the UI (as requireWritable in cmd/).
func (s *Brokers) source(ctx context.Context, i int, dest, what string) (*dlq.Source, error) {
	t := s.Targets[i]
	if t.ReadOnly {
		return nil, mqerr.Usagef("context %q is read-only: %s refused", t.Context, what)
	}
	conn, err := s.conn(ctx, i)
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	return dlq.NewSource(conn, t, dest, nil), nil
}

// replayJob is `dlq replay` of src with its defaults, counting in st.
func replayJob(src *dlq.Source, st *dlq.MoveStats) *dlq.MoveJob {
	return &dlq.MoveJob{Job: dlq.Job{Source: src, InFlight: inFlight, Err: io.Discard, DryRunOut: io.Discard, Stats: st},
		Verb: "replay", Group: ReplayGroup}
}

// PlanReplay is `dlq replay SOURCE --dry-run`: what the replay would read
// and where each dead letter would go.
func (s *Brokers) PlanReplay(ctx context.Context, i int, dest string) (tui.Plan, error) {
	src, err := s.source(ctx, i, dest, "dlq replay")
	if err != nil {
		return tui.Plan{}, err
	}
	st := &dlq.MoveStats{}
	j := replayJob(src, st)
	j.DryRun = true
	err = j.Run(ctx)
	p := tui.Plan{Read: st.Read.Load(), Replay: st.Forwarded.Load(), Left: st.Left.Load(), To: st.To.Counts(),
		Marked: src.Caps.PeekMarksRedelivered && st.Read.Load() > 0, Settle: "removed from " + dest}
	if src.ReadsByGroup() {
		p.Settle = fmt.Sprintf("committed in group %s (the records stay in %s; a later replay starts after them)", ReplayGroup, dest)
	}
	return p, broker.Scrub(err, src.Target.Secrets()...)
}

// Replay is `dlq replay SOURCE --limit limit --yes`: each dead letter goes
// back where it came from with a confirm and is settled only after it.
func (s *Brokers) Replay(ctx context.Context, i int, dest string, limit int64, st *dlq.MoveStats) error {
	src, err := s.source(ctx, i, dest, "dlq replay")
	if err != nil {
		return err
	}
	j := replayJob(src, st)
	j.Limit = limit
	return broker.Scrub(j.Run(ctx), src.Target.Secrets()...)
}

// Purge is `dlq purge SOURCE --yes`: the broker's own purge of everything
// dest holds now.
func (s *Brokers) Purge(ctx context.Context, i int, dest string) (int64, error) {
	src, err := s.source(ctx, i, dest, "dlq purge")
	if err != nil {
		return 0, err
	}
	st := &dlq.MoveStats{}
	j := &dlq.PurgeJob{Job: dlq.Job{Source: src, InFlight: inFlight, Err: io.Discard, DryRunOut: io.Discard, Stats: st}}
	err = j.Run(ctx)
	return st.Purged.Load(), broker.Scrub(err, src.Target.Secrets()...)
}

// resetter is context i's broker.OffsetResetter, as `mqctl offsets reset`
// opens it, refusing a read-only context again below the UI.
func (s *Brokers) resetter(ctx context.Context, i int) (broker.OffsetResetter, error) {
	t := s.Targets[i]
	if t.ReadOnly {
		return nil, mqerr.Usagef("context %q is read-only: offsets reset refused", t.Context)
	}
	conn, err := s.conn(ctx, i)
	if err != nil {
		return nil, broker.Scrub(err, t.Secrets()...)
	}
	r, err := broker.As[broker.OffsetResetter](conn, "resetting consumer offsets")
	if err != nil {
		caps, _ := broker.CapabilitiesOf(conn)
		return nil, fmt.Errorf("%w: a %s keeps no consumer position to move", err, caps.DestinationKind)
	}
	return r, nil
}

// PlanReset is `mqctl offsets reset GROUP --to WHERE` without --execute:
// offsets.MakePlan, which changes nothing.
func (s *Brokers) PlanReset(ctx context.Context, i int, req offsets.Request) (offsets.Plan, error) {
	r, err := s.resetter(ctx, i)
	if err != nil {
		return offsets.Plan{}, err
	}
	p, err := offsets.MakePlan(ctx, r, req)
	return p, broker.Scrub(err, s.Targets[i].Secrets()...)
}

// ApplyReset is its --execute: offsets.Apply of the plan the user saw,
// refused while the group has live members (by the plan, and again by the
// driver when it commits).
func (s *Brokers) ApplyReset(ctx context.Context, i int, p *offsets.Plan) error {
	r, err := s.resetter(ctx, i)
	if err != nil {
		return err
	}
	return broker.Scrub(offsets.Apply(ctx, r, p), s.Targets[i].Secrets()...)
}
