package dlq

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
)

// Row is one line of `dlq ls`.
type Row struct {
	broker.DeadLetterDestination `yaml:",inline"`
	TopReasons                   []Count `json:"top_reasons,omitempty" yaml:"top_reasons,omitempty"`
	// Sampled is how many dead letters the reasons were read from.
	Sampled int `json:"sampled,omitempty" yaml:"sampled,omitempty"`
	// NotRead: it holds dead letters that were not read, as reading them
	// would mark them redelivered and no --sample was asked, so TOP
	// REASONS says so instead of "-".
	NotRead bool `json:"-" yaml:"-"`
}

// ListRequest is what `dlq ls` asks of a connection.
type ListRequest struct {
	Query broker.DeadLetterQuery
	// Sample is how many dead letters of each destination are read for
	// their reasons; SampleAsked says it was given, which a broker whose
	// reads mark messages redelivered requires before reading any.
	Sample      int
	SampleAsked bool
}

// List finds the dead-letter destinations on conn's connection (conn.Name
// is not used) and reads the reasons of a sample of each.
func List(ctx context.Context, conn *Source, req ListRequest) ([]Row, error) {
	if err := conn.CheckHeld("sample", req.Sample); err != nil {
		return nil, err
	}
	finder, err := broker.As[broker.DeadLetters](conn.Conn, "finding dead letters")
	if err != nil {
		return nil, err
	}
	lctx, cancel := conn.timeout(ctx)
	dests, err := finder.DeadLetterDestinations(lctx, req.Query)
	cancel()
	if err != nil {
		return nil, err
	}
	sample := req.Sample
	notRead := conn.Caps.PeekMarksRedelivered && !req.SampleAsked
	if notRead {
		sample = 0
	}
	rows := make([]Row, len(dests))
	warned := false
	for i, d := range dests {
		rows[i] = Row{DeadLetterDestination: d, NotRead: notRead && d.Messages > 0}
		if conn.Target.Context != "" {
			rows[i].Context = conn.Target.Context
		}
		if rows[i].NotRead && !warned {
			warned = true
			conn.Logf("%s dead letters are not read for their reasons unless asked, as reading marks them redelivered: --sample N reads the first N of each", conn.Caps.Name)
		}
		// Read even where the listing says 0: statistics can be seconds
		// older than the source, and reading an empty source costs little
		// and changes nothing.
		if sample > 0 {
			src := &Source{Conn: conn.Conn, Target: conn.Target, Name: d.Name, Caps: conn.Caps, Logf: conn.Logf}
			st := SampleReasons(ctx, src, sample)
			rows[i].TopReasons, rows[i].Sampled = st.Reasons.Top(3), int(st.Total)
			if rows[i].Oldest.IsZero() && conn.Caps.PurgeAfterCopy {
				// A log purged up to a position is read from its start:
				// the first dead letters read are the oldest. A queue's
				// order changes as passed-over dead letters go to its tail.
				rows[i].Oldest = st.Oldest()
			}
		}
	}
	return rows, nil
}

// Depths are the rows' depths, for Check.
func Depths(rows []Row) []Depth {
	depths := make([]Depth, len(rows))
	for i, r := range rows {
		depths[i] = Depth{Name: r.Name, Messages: r.Messages}
	}
	return depths
}
