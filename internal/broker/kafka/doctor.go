package kafka

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.Diagnoser = (*Conn)(nil)

// Diagnose answers `mqctl doctor`: TLS, the SASL login, the version the
// brokers' API versions suggest, and the ACL operations each command
// needs, as the brokers report them on the topics this client can see
// (Metadata with authorized operations, KIP-430) and by listing groups.
// Nothing is created, produced or committed.
func (c *Conn) Diagnose(ctx context.Context) []broker.Diagnosis {
	out := []broker.Diagnosis{broker.TLSDiagnosis(c.tlsOn, c.tls), c.authDiagnosis(), c.versionDiagnosis(ctx)}
	out = append(out, c.topicPermissions(ctx)...)
	return append(out, c.groupPermission(ctx))
}

func (c *Conn) authDiagnosis() broker.Diagnosis {
	if c.login == "" {
		return broker.Diagnosis{Check: broker.CheckAuth, Status: broker.StatusOK, Detail: "no SASL (anonymous)"}
	}
	return broker.Diagnosis{Check: broker.CheckAuth, Status: broker.StatusOK, Detail: c.doctorLogin + " accepted", User: c.user}
}

func (c *Conn) versionDiagnosis(ctx context.Context) broker.Diagnosis {
	d := broker.Diagnosis{Check: broker.CheckVersion, Status: broker.StatusUnknown}
	vs, err := c.admin.ApiVersions(ctx)
	if err != nil {
		d.Detail = c.diagErr(err)
		return d
	}
	var guesses []string
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			continue
		}
		if g := v.VersionGuess(); !slices.Contains(guesses, g) {
			guesses = append(guesses, g)
		}
	}
	if len(guesses) == 0 {
		d.Detail = "no broker answered ApiVersions"
		return d
	}
	d.Status = broker.StatusOK
	d.Detail = fmt.Sprintf("%s (guessed from API versions; %d broker(s))", strings.Join(guesses, ", "), len(vs))
	return d
}

// unreported is the authorized-operations value of a broker that did not
// compute them (too old, or the field was not asked for).
const unreported = math.MinInt32

// topicPermissions reads the operations this client may perform on every
// topic it can describe and judges read, produce and dlq from them.
func (c *Conn) topicPermissions(ctx context.Context) []broker.Diagnosis {
	unknown := func(detail string) []broker.Diagnosis {
		var out []broker.Diagnosis
		for _, check := range []string{broker.CheckRead, broker.CheckProduce, broker.CheckDLQ} {
			out = append(out, broker.Diagnosis{Check: check, Status: broker.StatusUnknown, Detail: detail})
		}
		return out
	}
	req := kmsg.NewPtrMetadataRequest()
	req.IncludeTopicAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, c.client)
	if err != nil {
		return unknown(c.diagErr(err))
	}
	var topics []string
	ops := map[string]int32{}
	for _, t := range resp.Topics {
		if t.Topic == nil || t.IsInternal || t.ErrorCode != 0 {
			continue
		}
		if t.AuthorizedOperations == unreported {
			return unknown("the brokers do not report authorized operations (Kafka 2.3+ does)")
		}
		topics = append(topics, *t.Topic)
		ops[*t.Topic] = t.AuthorizedOperations
	}
	if len(topics) == 0 {
		return unknown("no topic visible to this client to judge by")
	}
	slices.Sort(topics)
	may := func(topic string, want ...kmsg.ACLOperation) bool {
		for _, op := range want {
			if ops[topic]&(1<<int32(op)) == 0 {
				return false
			}
		}
		return true
	}
	judge := func(check, what string, want ...kmsg.ACLOperation) broker.Diagnosis {
		var denied []string
		for _, t := range topics {
			if !may(t, want...) {
				denied = append(denied, t)
			}
		}
		allowed := len(topics) - len(denied)
		d := broker.Diagnosis{Check: check, Status: broker.Share(allowed, len(topics))}
		d.Detail = fmt.Sprintf("%s allowed on %d of %d topics", what, allowed, len(topics))
		if len(denied) > 0 && allowed > 0 {
			d.Detail += " (not on " + firstNames(denied, 3) + ")"
		}
		return d
	}
	return []broker.Diagnosis{
		judge(broker.CheckRead, "READ", kmsg.ACLOperationRead),
		judge(broker.CheckProduce, "WRITE", kmsg.ACLOperationWrite),
		judge(broker.CheckDLQ, "replay (READ+WRITE) and purge (DELETE)", kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete),
	}
}

// groupPermission lists the consumer groups, as lag does: the brokers
// return the groups this client may describe.
func (c *Conn) groupPermission(ctx context.Context) broker.Diagnosis {
	d := broker.Diagnosis{Check: broker.CheckLag}
	groups, err := c.admin.ListGroups(ctx)
	switch {
	case err != nil && denied(err):
		d.Status, d.Detail = broker.StatusFail, "listing consumer groups denied: "+c.diagErr(err)
	case err != nil:
		d.Status, d.Detail = broker.StatusUnknown, c.diagErr(err)
	default:
		d.Status, d.Detail = broker.StatusOK, fmt.Sprintf("%d consumer group(s) visible", len(groups))
	}
	return d
}

// diagErr is err as a doctor detail, with no secret in it.
func (c *Conn) diagErr(err error) string {
	return broker.ScrubString(reason(err), c.secrets...)
}

// firstNames lists up to n names, then how many more.
func firstNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
