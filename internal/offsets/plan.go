package offsets

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Request is one reset: which group, which partitions, where to.
type Request struct {
	Group  string
	Topics []Topic
	To     To
}

// Row is one partition of a plan. Offsets are the next record the group
// reads.
type Row struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	// Current is nil when the group has no position here.
	Current *int64 `json:"current" yaml:"current"`
	New     int64  `json:"new" yaml:"new"`
	// Change is New - Current; nil without a current position.
	Change   *int64 `json:"change" yaml:"change"`
	LagAfter int64  `json:"lag_after" yaml:"lag_after"`
	LogStart int64  `json:"log_start" yaml:"log_start"`
	// HighWatermark is the log end offset (JetStream: last sequence + 1).
	HighWatermark int64 `json:"high_watermark" yaml:"high_watermark"`
	// Clamped says which bound the target was moved to ("log start",
	// "high watermark"; for a stream "stream start", "stream end"), ""
	// when it was within them.
	Clamped string `json:"clamped,omitempty" yaml:"clamped,omitempty"`
}

// Plan is a computed reset: what would change, and whether it did.
type Plan struct {
	Group    string `json:"group" yaml:"group"`
	To       string `json:"to" yaml:"to"`
	Members  int    `json:"members" yaml:"members"`
	Action   string `json:"action" yaml:"action"`
	Executed bool   `json:"executed" yaml:"executed"`
	Rows     []Row  `json:"partitions" yaml:"partitions"`
	// Partitioned is false for a JetStream stream: one row, no
	// partition column.
	Partitioned bool `json:"-" yaml:"-"`
}

// Clamped counts the rows whose target was moved to a bound.
func (p Plan) Clamped() int {
	n := 0
	for _, r := range p.Rows {
		if r.Clamped != "" {
			n++
		}
	}
	return n
}

// MakePlan reads the group's positions and computes the new ones; it
// changes nothing. An unknown group is an mqerr.NotFound error unless
// topics were named (which sets positions for a new group); a position
// the broker cannot move to is an mqerr.Unsupported error.
func MakePlan(ctx context.Context, r broker.OffsetResetter, req Request) (Plan, error) {
	q := broker.OffsetQuery{Group: req.Group, Topics: Selection(req.Topics)}
	if req.To.Kind == AtTime {
		q.At = req.To.Time
	}
	st, err := r.ReadOffsets(ctx, q)
	if err != nil {
		return Plan{}, err
	}
	if !st.Exists && q.Topics == nil {
		return Plan{}, mqerr.New(mqerr.NotFound, "consumer group %s does not exist (no members, no stored offsets); name --topic to set offsets for a new group", req.Group)
	}
	if len(st.Positions) == 0 {
		return Plan{}, mqerr.New(mqerr.NotFound, "consumer group %s has no stored offsets to reset; name the topics with --topic", req.Group)
	}
	p := Plan{Group: req.Group, To: req.To.String(), Members: st.Members, Action: st.Action, Partitioned: st.Partitioned}
	for _, pos := range st.Positions {
		row, err := planRow(pos, req.To, st.Partitioned)
		if err != nil {
			return Plan{}, err
		}
		if row.New < pos.Floor {
			if st.BelowFloor == "" {
				return Plan{}, mqerr.New(mqerr.Unsupported, "%s: cannot move to %d: %s", where(pos, st.Partitioned), row.New, st.FloorWhy)
			}
			p.Action = st.BelowFloor
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}

// planRow computes one partition's new position, clamped to
// [log start, high watermark] (a stream's [first sequence, last + 1]).
func planRow(pos broker.OffsetPosition, to To, partitioned bool) (Row, error) {
	var target int64
	switch to.Kind {
	case Earliest:
		target = pos.Start
	case Latest:
		target = pos.End
	case AtTime:
		target = pos.AtTime
	case Offset:
		target = to.N
	case Shift:
		if pos.Committed < 0 {
			return Row{}, mqerr.Usagef("%s has no stored offset to shift from; use --to earliest, latest, an offset or a time", where(pos, partitioned))
		}
		target = pos.Committed + to.N
	}
	row := Row{Topic: pos.Topic, Partition: pos.Partition, LogStart: pos.Start, HighWatermark: pos.End}
	start, end := "log start", "high watermark"
	if !partitioned {
		start, end = "stream start", "stream end"
	}
	switch {
	case target < pos.Start:
		target, row.Clamped = pos.Start, start
	case target > pos.End:
		target, row.Clamped = pos.End, end
	}
	row.New = target
	row.LagAfter = pos.End - target
	if pos.Committed >= 0 {
		cur, change := pos.Committed, target-pos.Committed
		row.Current, row.Change = &cur, &change
	}
	return row, nil
}

func where(pos broker.OffsetPosition, partitioned bool) string {
	if !partitioned {
		return "stream " + pos.Topic
	}
	return fmt.Sprintf("%s partition %d", pos.Topic, pos.Partition)
}

// Apply stores p's new positions. It refuses a plan made while the group
// had live members (mqerr.Usage, naming how many), and the broker refuses
// again if members joined since the plan was made.
func Apply(ctx context.Context, r broker.OffsetResetter, p *Plan) error {
	if p.Members > 0 {
		return broker.LiveMembers(p.Group, p.Members)
	}
	to := make([]broker.OffsetCommit, len(p.Rows))
	for i, row := range p.Rows {
		to[i] = broker.OffsetCommit{Topic: row.Topic, Partition: row.Partition, Offset: row.New}
	}
	if err := r.ResetOffsets(ctx, p.Group, to); err != nil {
		return err
	}
	p.Executed = true
	return nil
}

// Table shapes a plan's rows: topic, partition, current, new, change, lag
// after, and a note when the target was clamped. A plan without
// partitions has a STREAM column instead of the first two.
func Table(p Plan) output.Table {
	t := output.Table{Header: []string{"TOPIC", "PARTITION", "CURRENT", "NEW", "CHANGE", "LAG AFTER"}}
	if !p.Partitioned {
		t.Header = append([]string{"STREAM"}, t.Header[2:]...)
	}
	clamped := p.Clamped() > 0
	if clamped {
		t.Header = append(t.Header, "NOTE")
	}
	for _, r := range p.Rows {
		cur, change := "-", "-"
		if r.Current != nil {
			cur, change = strconv.FormatInt(*r.Current, 10), signed(*r.Change)
		}
		row := []string{r.Topic, strconv.Itoa(int(r.Partition)), cur, strconv.FormatInt(r.New, 10), change, strconv.FormatInt(r.LagAfter, 10)}
		if !p.Partitioned {
			row = append(row[:1], row[2:]...)
		}
		if clamped {
			note := ""
			if r.Clamped != "" {
				note = "clamped to " + r.Clamped
			}
			row = append(row, note)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func signed(n int64) string {
	if n > 0 {
		return "+" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
