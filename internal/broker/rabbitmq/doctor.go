package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

var _ broker.Diagnoser = (*Conn)(nil)

// Diagnose answers `mqctl doctor`: TLS, the login, the server's version
// (from the AMQP handshake), the management API, and the user's
// permissions in the vhost. RabbitMQ shows a user's permissions only to
// administrators; for anyone else they are UNKNOWN. Only GET requests are
// made.
func (c *Conn) Diagnose(ctx context.Context) []broker.Diagnosis {
	out := []broker.Diagnosis{broker.TLSDiagnosis(c.tlsOn, c.tls), c.authDiagnosis(), c.versionDiagnosis()}
	mgmt, tags := c.managementDiagnosis(ctx)
	out = append(out, mgmt)
	out = append(out, c.permissions(ctx, mgmt.Status == broker.StatusOK, tags)...)
	lagCheck := broker.Diagnosis{Check: broker.CheckLag, Status: broker.StatusOK, Detail: "every queue, from the management API"}
	if mgmt.Status != broker.StatusOK {
		lagCheck.Status, lagCheck.Detail = broker.StatusWarn, "only queues named on the command line, over AMQP (ready and consumers)"
	}
	return append(out, lagCheck)
}

func (c *Conn) authDiagnosis() broker.Diagnosis {
	who := "user " + broker.UserMark
	if c.external {
		who = "client certificate (SASL EXTERNAL)"
	}
	return broker.Diagnosis{Check: broker.CheckAuth, Status: broker.StatusOK, Detail: fmt.Sprintf("%s accepted in vhost %q", who, c.vhost), User: c.user}
}

func (c *Conn) versionDiagnosis() broker.Diagnosis {
	product, _ := c.conn.Properties["product"].(string)
	version, _ := c.conn.Properties["version"].(string)
	if version == "" {
		return broker.Diagnosis{Check: broker.CheckVersion, Status: broker.StatusUnknown, Detail: "the server did not say"}
	}
	return broker.Diagnosis{Check: broker.CheckVersion, Status: broker.StatusOK, Detail: strings.TrimSpace(product + " " + version)}
}

// managementDiagnosis asks the API who we are, which also proves it
// answers and accepts the login; it returns the user's tags.
func (c *Conn) managementDiagnosis(ctx context.Context) (broker.Diagnosis, []string) {
	d := broker.Diagnosis{Check: broker.CheckManagement}
	var overview struct {
		Version string `json:"management_version"`
	}
	var who struct {
		Tags json.RawMessage `json:"tags"`
	}
	err := c.mgmt.get(ctx, "/api/overview", nil, "overview", &overview)
	if err == nil {
		err = c.mgmt.get(ctx, "/api/whoami", nil, "whoami", &who)
	}
	switch {
	case mqerr.Is(err, mqerr.Auth):
		d.Status, d.Detail = broker.StatusFail, fmt.Sprintf("%s (the user needs the management or monitoring tag); ls, lag of every queue and dlq ls need the API", err)
	case err != nil:
		d.Status, d.Detail = broker.StatusFail, fmt.Sprintf("%s; ls, lag of every queue and dlq ls need the rabbitmq_management plugin (or management_url)", err)
	default:
		tags := userTags(who.Tags)
		d.Status, d.Detail = broker.StatusOK, fmt.Sprintf("%s (plugin %s), user tags: %s", c.mgmt.base, overview.Version, orNone(strings.Join(tags, ",")))
		return d, tags
	}
	return d, nil
}

// userTags reads whoami's tags: a list since 3.9, a comma-separated
// string before.
func userTags(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// permissions judges read, produce and dlq by the user's permission
// patterns in the vhost, which only an administrator may read.
func (c *Conn) permissions(ctx context.Context, api bool, tags []string) []broker.Diagnosis {
	unknown := func(detail string) []broker.Diagnosis {
		var out []broker.Diagnosis
		for _, check := range []string{broker.CheckRead, broker.CheckProduce, broker.CheckDLQ} {
			out = append(out, broker.Diagnosis{Check: check, Status: broker.StatusUnknown, Detail: detail})
		}
		return out
	}
	switch {
	case !api:
		return unknown("permissions are read from the management API")
	case c.external || !slices.Contains(tags, "administrator"):
		return unknown("RabbitMQ shows permissions to administrators only; a refusal shows when a command runs")
	}
	var p struct {
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	path := "/api/permissions/" + url.PathEscape(c.vhost) + "/" + url.PathEscape(c.user)
	if err := c.mgmt.get(ctx, path, nil, fmt.Sprintf("permissions of %q in vhost %q", c.user, c.vhost), &p); err != nil {
		if mqerr.Is(err, mqerr.NotFound) {
			p.Read, p.Write, p.Configure = "", "", ""
		} else {
			return unknown(err.Error())
		}
	}
	read := pattern(broker.CheckRead, "read (consume, peek, purge)", "queues", p.Read)
	write := pattern(broker.CheckProduce, "write (publish)", "exchanges", p.Write)
	dlq := broker.Diagnosis{Check: broker.CheckDLQ, Status: worst(read.Status, write.Status),
		Detail: fmt.Sprintf("replay reads the dead-letter queue (read %s) and publishes (write %s); purge needs read", quoteOrNone(p.Read), quoteOrNone(p.Write))}
	return []broker.Diagnosis{read, write, dlq}
}

// pattern judges one permission pattern: everything, some names, or none.
func pattern(check, what, kind, re string) broker.Diagnosis {
	switch re {
	case ".*":
		return broker.Diagnosis{Check: check, Status: broker.StatusOK, Detail: what + " on every " + strings.TrimSuffix(kind, "s")}
	case "", "^$":
		return broker.Diagnosis{Check: check, Status: broker.StatusFail, Detail: "no " + what + " permission in this vhost"}
	}
	return broker.Diagnosis{Check: check, Status: broker.StatusWarn, Detail: fmt.Sprintf("%s only on %s matching %q", what, kind, re)}
}

// worst is the status that matters more.
func worst(a, b broker.Status) broker.Status {
	rank := map[broker.Status]int{broker.StatusOK: 0, broker.StatusUnknown: 1, broker.StatusWarn: 2, broker.StatusFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func quoteOrNone(re string) string {
	if re == "" {
		return "none"
	}
	return fmt.Sprintf("%q", re)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
