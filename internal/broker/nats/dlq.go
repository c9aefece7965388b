package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var (
	_ broker.DeadLetters   = (*Conn)(nil)
	_ broker.Purger        = (*Conn)(nil)
	_ broker.MessageGetter = (*Conn)(nil)
)

// advisoryKinds are the consumer advisories that mark a dead letter, in
// the order Why names them. Their subjects are
// $JS.EVENT.ADVISORY.CONSUMER.<kind>.<stream>.<consumer>.
var advisoryKinds = []string{"MAX_DELIVERIES", "MSG_TERMINATED"}

// DeadLetterDestinations implements broker.DeadLetters: the streams that
// capture MAX_DELIVERIES or MSG_TERMINATED advisories (whose entries point
// at messages still in their stream), and the streams named like q's
// patterns, sorted by name. It costs one paged stream listing.
//
// Like List, a server or account without JetStream has none.
func (c *Conn) DeadLetterDestinations(ctx context.Context, q broker.DeadLetterQuery) ([]broker.DeadLetterDestination, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	streams, err := c.streamInfos(ctx)
	if err != nil {
		if jetStreamMissing(err) {
			return nil, c.noJetStream()
		}
		return nil, c.apiErr(err, "listing streams")
	}
	out := []broker.DeadLetterDestination{}
	for _, info := range streams {
		why, advisories := advisoryWhy(info.Config.Subjects), true
		if why == "" {
			why, advisories = nameWhy(q, info.Config.Name), false
		}
		if why == "" {
			continue
		}
		d := broker.DeadLetterDestination{
			Broker:     "nats",
			Type:       "stream",
			Name:       info.Config.Name,
			Messages:   int64(info.State.Msgs),
			Why:        why,
			Advisories: advisories,
		}
		// An empty stream still reports the time of its last first
		// message; there is no oldest message then.
		if info.State.Msgs > 0 {
			d.Oldest = info.State.FirstTime
		}
		out = append(out, d)
	}
	return out, nil
}

// advisoryWhy says which dead-letter advisories a stream with these
// subjects captures, or "" when none: "MAX_DELIVERIES/MSG_TERMINATED
// advisories of ORDERS", "MSG_TERMINATED advisories of all streams".
// Wildcards count on both sides: $JS.EVENT.> captures every advisory, and
// $JS.EVENT.ADVISORY.CONSUMER.*.ORDERS.* both kinds of ORDERS.
func advisoryWhy(subjects []string) string {
	var kinds, origins []string
	for _, kind := range advisoryKinds {
		advisory := []string{"$JS", "EVENT", "ADVISORY", "CONSUMER", kind, "*", "*"}
		names := map[string]bool{}
		all := false
		for _, s := range subjects {
			tok := strings.Split(s, ".")
			if !collide(tok, advisory) {
				continue
			}
			// The stream's token, when the subject names one.
			if len(tok) > 5 && tok[5] != "*" && tok[5] != ">" {
				names[tok[5]] = true
			} else {
				all = true
			}
		}
		if !all && len(names) == 0 {
			continue
		}
		of := "all streams"
		if !all {
			list := make([]string, 0, len(names))
			for n := range names {
				list = append(list, n)
			}
			sort.Strings(list)
			of = strings.Join(list, ", ")
		}
		kinds, origins = append(kinds, kind), append(origins, of)
	}
	switch {
	case len(kinds) == 0:
		return ""
	case len(kinds) == 2 && origins[0] == origins[1]:
		return fmt.Sprintf("%s/%s advisories of %s", kinds[0], kinds[1], origins[0])
	}
	parts := make([]string, len(kinds))
	for i := range kinds {
		parts[i] = fmt.Sprintf("%s advisories of %s", kinds[i], origins[i])
	}
	return strings.Join(parts, "; ")
}

// collide reports whether some subject matches both token lists, each of
// which may hold wildcards: '*' is any one token, '>' one or more.
func collide(a, b []string) bool {
	for i := 0; ; i++ {
		if i == len(a) || i == len(b) {
			return len(a) == len(b)
		}
		x, y := a[i], b[i]
		if x == ">" || y == ">" {
			// Both have a token here, so '>' has one to match.
			return true
		}
		if x != "*" && y != "*" && x != y {
			return false
		}
	}
}

// nameWhy says which pattern name matches, "" when none does (the
// patterns were checked first).
func nameWhy(q broker.DeadLetterQuery, name string) string {
	why, _ := q.NameWhy(name)
	return why
}

// GetMessage implements broker.MessageGetter: the message stored at seq,
// as a consumer would deliver it (without consumer metadata). A sequence
// that is deleted or was removed by the stream's limits is an
// mqerr.NotFound error, as is a missing stream.
func (c *Conn) GetMessage(ctx context.Context, stream string, seq uint64) (*broker.Message, error) {
	if err := checkStreamName(stream); err != nil {
		return nil, err
	}
	if seq == 0 {
		return nil, mqerr.Usagef("nats: %s seq 0: stream sequences start at 1", stream)
	}
	var resp msgGetResponse
	err := c.jsAPI(ctx, "STREAM.MSG.GET."+stream, msgGetRequest{Seq: seq}, &resp)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, mqerr.New(mqerr.NotFound, "%s seq %d is gone: removed by the stream's limits or deleted", stream, seq)
	case err != nil:
		return nil, c.streamErr(err, stream)
	case resp.Message == nil:
		return nil, fmt.Errorf("nats at %s answered without the message for %s seq %d", c.hosts, stream, seq)
	}
	sm := resp.Message
	var h nats.Header
	if len(sm.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(sm.Header); err != nil {
			return nil, fmt.Errorf("%s seq %d on nats at %s has unreadable headers: %s", stream, seq, c.hosts, reason(err))
		}
	}
	return &broker.Message{
		Value:       sm.Data,
		Headers:     headerList(h),
		Timestamp:   sm.Time,
		Destination: sm.Subject,
		NATS: broker.NATSMeta{
			Subject:   sm.Subject,
			Stream:    stream,
			StreamSeq: sm.Seq,
			MsgID:     h.Get(jetstream.MsgIDHeader),
		},
	}, nil
}

// Purge implements broker.Purger with a stream purge: up to the stream's
// last sequence read first, so that messages published meanwhile stay, or
// with r.Before[0] = N the messages before sequence N. It returns how many
// the server removed. N is capped at the last sequence read plus one: a
// purge beyond it would move the stream's sequence forward.
func (c *Conn) Purge(ctx context.Context, r broker.PurgeRequest) (int64, error) {
	var before uint64
	if r.Before != nil {
		n, ok := r.Before[0]
		if !ok || len(r.Before) != 1 {
			return 0, mqerr.Usagef("nats: a JetStream purge takes one position, the stream sequence (key 0)")
		}
		before = uint64(max(n, 0))
	}
	s, err := c.js.Stream(ctx, r.Dest)
	if err != nil {
		return 0, c.streamErr(err, r.Dest)
	}
	st := s.CachedInfo().State
	upTo := st.LastSeq + 1
	if r.Before != nil {
		upTo = min(upTo, before)
	}
	if st.Msgs == 0 || upTo <= st.FirstSeq {
		return 0, nil
	}
	var resp purgeResponse
	err = c.jsAPI(ctx, "STREAM.PURGE."+r.Dest, purgeRequest{Seq: upTo}, &resp)
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return 0, c.streamErr(err, r.Dest)
	case errors.As(err, &api):
		return 0, fmt.Errorf("nats at %s refused to purge stream %q: %s", c.hosts, r.Dest, api.Description)
	case err != nil:
		return 0, c.apiErr(err, fmt.Sprintf("purging stream %q", r.Dest))
	case !resp.Success:
		return 0, fmt.Errorf("nats at %s did not confirm purging stream %q", c.hosts, r.Dest)
	}
	return int64(resp.Purged), nil
}

// JetStream error codes of a delete whose message is gone already: the
// memory store answers JSSequenceNotFoundErrF, the file store
// JSStreamMsgDeleteFailedF with its "no message found".
const (
	errCodeSequenceNotFound jetstream.ErrorCode = 10043
	errCodeMsgDeleteFailed  jetstream.ErrorCode = 10057
)

// deleteMsg deletes seq from stream, confirmed by the server. A message
// that is gone already counts as deleted: a retried delete, or limits
// that removed it first.
func (c *Conn) deleteMsg(ctx context.Context, stream string, seq uint64) error {
	var resp msgDeleteResponse
	err := c.jsAPI(ctx, "STREAM.MSG.DELETE."+stream, msgDeleteRequest{Seq: seq, NoErase: true}, &resp)
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api) && (api.ErrorCode == errCodeSequenceNotFound ||
		api.ErrorCode == jetstream.JSErrCodeMessageNotFound ||
		api.ErrorCode == errCodeMsgDeleteFailed && strings.Contains(api.Description, "no message found")):
		return nil
	case err != nil:
		return err
	case !resp.Success:
		return fmt.Errorf("nats at %s did not confirm deleting %s seq %d", c.hosts, stream, seq)
	}
	return nil
}

// checkStreamName rejects what the JetStream API cannot take as a stream
// name, as jetstream's own methods do before they send a request.
func checkStreamName(name string) error {
	if name == "" || strings.ContainsAny(name, ">*. /\\\t\r\n") {
		return mqerr.Usagef("nats: %q is not a valid stream name", name)
	}
	return nil
}

// jsAPI sends one request to the JetStream API (subject after $JS.API.)
// and decodes the answer into resp; the server's error comes back as a
// *jetstream.APIError. jetstream's own methods hide what is needed here:
// how many messages a purge removed, the error code of a failed delete,
// and a message get in one round trip instead of two. A ctx without a
// deadline gets opTimeout, like jetstream's default.
func (c *Conn) jsAPI(ctx context.Context, subject string, req any, resp apiAnswer) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	msg, err := c.nc.RequestWithContext(ctx, jetstream.DefaultAPIPrefix+subject, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("nats at %s sent an unreadable JetStream answer: %w", c.hosts, err)
	}
	if e := resp.apiError(); e != nil {
		return e
	}
	return nil
}

// apiAnswer is a JetStream API response, which may carry an error.
type apiAnswer interface {
	apiError() *jetstream.APIError
}

type apiResult struct {
	Error *jetstream.APIError `json:"error,omitempty"`
}

func (r *apiResult) apiError() *jetstream.APIError { return r.Error }

// The requests and responses below are the server's (nats-server's
// JSApiMsgGetRequest, JSApiStreamPurgeRequest, JSApiMsgDeleteRequest and
// their responses), with the fields mqctl uses.
type msgGetRequest struct {
	Seq uint64 `json:"seq"`
}

type msgGetResponse struct {
	apiResult
	Message *struct {
		Subject string    `json:"subject"`
		Seq     uint64    `json:"seq"`
		Header  []byte    `json:"hdrs,omitempty"`
		Data    []byte    `json:"data,omitempty"`
		Time    time.Time `json:"time"`
	} `json:"message,omitempty"`
}

type purgeRequest struct {
	// Seq purges the messages before it.
	Seq uint64 `json:"seq"`
}

type purgeResponse struct {
	apiResult
	Success bool   `json:"success"`
	Purged  uint64 `json:"purged"`
}

type msgDeleteRequest struct {
	Seq     uint64 `json:"seq"`
	NoErase bool   `json:"no_erase,omitempty"`
}

type msgDeleteResponse struct {
	apiResult
	Success bool `json:"success"`
}
