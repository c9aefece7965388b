package nats

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Lag implements broker.LagReader with one row per JetStream consumer,
// sorted by stream, then consumer. q.Match selects streams by name.
//
// Lag is num_pending (matching messages not yet delivered), Committed the
// ack floor's stream sequence and End the stream's last sequence, so the
// lag package's offset rules apply. It costs one stream listing with
// their infos (one request per 256 streams), then per selected stream one
// consumer listing (one request per 256 consumers: the API lists
// consumers only by stream), plus with q.TimeLag at most one message
// lookup per filter subject of each lagging consumer, none for an
// unfiltered one still before the stream's first message (see timeLag).
//
// Like List, a server or account without JetStream gives no rows here;
// the lag source then asks WhyEmpty, which names the missing JetStream.
func (c *Conn) Lag(ctx context.Context, q broker.LagQuery) ([]lag.Row, error) {
	streams, err := c.streamInfos(ctx)
	if err != nil {
		if jetStreamMissing(err) {
			return []lag.Row{}, nil
		}
		return nil, c.apiErr(err, "listing streams")
	}
	rows := []lag.Row{}
	for _, info := range streams {
		if q.Match != nil && !q.Match(info.Config.Name) {
			continue
		}
		r, err := c.streamLag(ctx, info, q.TimeLag)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// streamNames lists the names of all streams, sorted. It drains the
// lister's channel, whose goroutine would otherwise block forever.
func (c *Conn) streamNames(ctx context.Context) ([]string, error) {
	l := c.js.StreamNames(ctx)
	var names []string
	for name := range l.Name() {
		names = append(names, name)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// sharedStreams keys the stream listing of one connection in a refresh's
// shared reads.
type sharedStreams struct{ c *Conn }

// streamInfos lists every stream's info, sorted by name: one request per
// page of 256, where names and then each stream's info would cost a
// request per stream. It drains the lister's channel, as streamNames.
// Within a refresh's shared reads (broker.ShareReads) one listing answers
// List, Lag and DeadLetterDestinations; the infos are then shared, and
// nobody changes them.
func (c *Conn) streamInfos(ctx context.Context) ([]*jetstream.StreamInfo, error) {
	return broker.Shared(ctx, sharedStreams{c}, func() ([]*jetstream.StreamInfo, error) {
		l := c.js.ListStreams(ctx)
		var infos []*jetstream.StreamInfo
		for info := range l.Info() {
			infos = append(infos, info)
		}
		if err := l.Err(); err != nil {
			return nil, err
		}
		sort.Slice(infos, func(i, j int) bool { return infos[i].Config.Name < infos[j].Config.Name })
		return infos, nil
	})
}

// streamLag returns the rows of one stream's consumers. A stream deleted
// since it was listed has none.
func (c *Conn) streamLag(ctx context.Context, info *jetstream.StreamInfo, withTimeLag bool) ([]lag.Row, error) {
	name := info.Config.Name
	infos, err := c.consumerInfos(ctx, name)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, nil
		}
		return nil, c.apiErr(err, fmt.Sprintf("listing the consumers of stream %q", name))
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })

	rows := make([]lag.Row, 0, len(infos))
	// Consumers at the same position on the same subjects share a lookup.
	seen := map[string]time.Time{}
	for _, ci := range infos {
		r := consumerRow(name, ci, info.State.LastSeq)
		if withTimeLag && r.Lag > 0 {
			if r.TimeLag, err = c.timeLag(ctx, info, ci, seen); err != nil {
				return nil, err
			}
			if r.TimeLag > 0 {
				r.TimeLagOf = lag.TimeLagOldestUnacked
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// consumerInfos lists a stream's consumers with their infos, one request
// per page (the server's JSApiConsumersRequest and JSApiConsumerListResponse),
// without the stream info request a jetstream.Stream costs first.
func (c *Conn) consumerInfos(ctx context.Context, stream string) ([]*jetstream.ConsumerInfo, error) {
	var infos []*jetstream.ConsumerInfo
	for offset := 0; ; {
		var resp consumerListResponse
		if err := c.jsAPI(ctx, "CONSUMER.LIST."+stream, pagedRequest{Offset: offset}, &resp); err != nil {
			return nil, err
		}
		for _, ci := range resp.Consumers {
			if ci != nil {
				infos = append(infos, ci)
			}
		}
		offset += len(resp.Consumers)
		if len(resp.Consumers) == 0 || offset >= resp.Total {
			return infos, nil
		}
	}
}

type pagedRequest struct {
	Offset int `json:"offset"`
}

type consumerListResponse struct {
	apiResult
	Total     int                       `json:"total"`
	Consumers []*jetstream.ConsumerInfo `json:"consumers"`
}

func consumerRow(stream string, ci *jetstream.ConsumerInfo, lastSeq uint64) lag.Row {
	return lag.Row{
		Broker:    lag.BrokerNATS,
		Kind:      lag.KindConsumer,
		Stream:    stream,
		Consumer:  ci.Name,
		Partition: lag.Unknown,
		Committed: int64(ci.AckFloor.Stream),
		// The stream info was read before the consumers, so messages that
		// arrived in between can put the consumer past that last sequence;
		// its delivered position keeps End >= Committed. It also covers a
		// consumer told to start beyond the end of the stream.
		End:         int64(max(lastSeq, ci.Delivered.Stream)),
		Lag:         int64(ci.NumPending),
		State:       consumerState(ci),
		AckPending:  int64(ci.NumAckPending),
		Redelivered: int64(ci.NumRedelivered),
		Waiting:     int64(ci.NumWaiting),
		LastActive:  lastActive(ci),
	}
}

// consumerState is "push" or "pull", with ",paused" while paused.
func consumerState(ci *jetstream.ConsumerInfo) string {
	s := "pull"
	if ci.Config.DeliverSubject != "" {
		s = "push"
	}
	if ci.Paused {
		s += ",paused"
	}
	return s
}

// lastActive is the later of the last delivery and the last ack; zero when
// the consumer has done neither.
func lastActive(ci *jetstream.ConsumerInfo) time.Time {
	var t time.Time
	for _, last := range []*time.Time{ci.Delivered.Last, ci.AckFloor.Last} {
		if last != nil && last.After(t) {
			t = *last
		}
	}
	return t
}

// timeLag estimates how long the oldest message the consumer has not
// acknowledged has been waiting: the first message after the ack floor
// that the consumer's filter selects, the same position Committed names.
//
// An unfiltered consumer whose floor is before the stream's first message
// waits for that message, whose time the stream listing already holds
// (first_ts): no request. Otherwise the message right after the floor may
// belong to an unfiltered subject or have been removed by the stream's
// limits, so the server is asked for the next message at or after it on
// each filter subject (one STREAM.MSG.GET with next_by_subj, no stream
// info first), and the oldest answer wins; seen keeps the answers of the
// stream's earlier consumers, by subject and sequence. No message found
// leaves the estimate unknown (0).
//
// The age is measured against the server's timestamp of the consumer info
// rather than the local clock, so clock skew between mqctl's host and the
// server does not distort it.
func (c *Conn) timeLag(ctx context.Context, info *jetstream.StreamInfo, ci *jetstream.ConsumerInfo, seen map[string]time.Time) (time.Duration, error) {
	subjects := ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		subjects = []string{ci.Config.FilterSubject}
	}
	if len(subjects) == 0 {
		subjects = []string{">"}
	}
	from := ci.AckFloor.Stream + 1
	var oldest time.Time
	if len(subjects) == 1 && subjects[0] == ">" && from <= info.State.FirstSeq && info.State.Msgs > 0 {
		oldest = info.State.FirstTime
	}
	for _, subject := range subjects {
		if !oldest.IsZero() && len(subjects) == 1 {
			break
		}
		key := fmt.Sprintf("%d %s", from, subject)
		t, ok := seen[key]
		if !ok {
			var resp msgGetResponse
			err := c.jsAPI(ctx, "STREAM.MSG.GET."+ci.Stream, msgNextRequest{Seq: from, NextBySubject: subject}, &resp)
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			case err != nil:
				return 0, c.apiErr(err, fmt.Sprintf("reading the oldest waiting message of consumer %q on stream %q", ci.Name, ci.Stream))
			case resp.Message != nil:
				t = resp.Message.Time
			}
			seen[key] = t
		}
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0, nil
	}
	now := ci.TimeStamp
	if now.IsZero() {
		now = time.Now()
	}
	// A known age must not read as unknown (0), which a message stored in
	// the same instant or a skewed cluster clock would otherwise give.
	return max(now.Sub(oldest), time.Nanosecond), nil
}

// msgNextRequest asks STREAM.MSG.GET for the first message at or after
// Seq on a subject.
type msgNextRequest struct {
	Seq           uint64 `json:"seq"`
	NextBySubject string `json:"next_by_subj"`
}

// apiErr classifies a failed JetStream API request made while doing what,
// the way checkStream does for the producer.
func (c *Conn) apiErr(err error, doing string) error {
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case violation(c.nc.LastError(), `"$JS.API.`):
		return mqerr.Wrap(mqerr.Auth, &explained{fmt.Sprintf("nats at %s denied this user the JetStream API while %s: %s", c.hosts, doing, reason(c.nc.LastError())), err})
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return mqerr.Wrap(mqerr.Unreachable, &explained{fmt.Sprintf("no response from JetStream at %s while %s", c.hosts, doing), err})
	}
	return &explained{fmt.Sprintf("%s on nats at %s: %s", doing, c.hosts, reason(err)), err}
}
