package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
)

var _ broker.Diagnoser = (*Conn)(nil)

// Diagnose answers `mqctl doctor`: TLS, the login, the server's version
// (from its INFO), whether JetStream answers for this account, and what
// that means for the commands. NATS does not tell a client its subject
// permissions, so read and produce are UNKNOWN: a denied subject shows
// when a command uses it. The only request is JetStream's account info.
func (c *Conn) Diagnose(ctx context.Context) []broker.Diagnosis {
	_, tlsErr := c.nc.TLSConnectionState()
	out := []broker.Diagnosis{
		broker.TLSDiagnosis(tlsErr == nil, c.tls),
		{Check: broker.CheckAuth, Status: broker.StatusOK, Detail: c.login + " accepted", User: c.user},
		c.versionDiagnosis(),
	}
	js := c.jetStreamDiagnosis(ctx)
	needJS := func(check, what string) broker.Diagnosis {
		if js.Status == broker.StatusOK {
			return broker.Diagnosis{Check: check, Status: broker.StatusOK, Detail: what + " through the JetStream API"}
		}
		return broker.Diagnosis{Check: check, Status: js.Status, Detail: what + " needs JetStream: " + js.Detail}
	}
	unknown := "NATS does not tell a client its subject permissions; a denied subject shows when a command runs"
	return append(out, js,
		broker.Diagnosis{Check: broker.CheckRead, Status: broker.StatusUnknown, Detail: unknown},
		broker.Diagnosis{Check: broker.CheckProduce, Status: broker.StatusUnknown, Detail: unknown},
		needJS(broker.CheckDLQ, "replay and purge of streams"),
		needJS(broker.CheckLag, "consumer lag"))
}

func (c *Conn) versionDiagnosis() broker.Diagnosis {
	v := c.nc.ConnectedServerVersion()
	if v == "" {
		return broker.Diagnosis{Check: broker.CheckVersion, Status: broker.StatusUnknown, Detail: "the server did not say"}
	}
	detail := "nats-server " + v
	if name := c.nc.ConnectedServerName(); name != "" {
		detail += ", server " + name
	}
	if cluster := c.nc.ConnectedClusterName(); cluster != "" {
		detail += ", cluster " + cluster
	}
	return broker.Diagnosis{Check: broker.CheckVersion, Status: broker.StatusOK, Detail: detail}
}

// jetStreamDiagnosis asks for the account's JetStream usage: an answer
// means the API is there and this user may call it.
func (c *Conn) jetStreamDiagnosis(ctx context.Context) broker.Diagnosis {
	d := broker.Diagnosis{Check: broker.CheckJetStream}
	info, err := c.js.AccountInfo(ctx)
	if err != nil && !errors.Is(err, nats.ErrPermissionViolation) {
		// A denied publish gets no reply, only an asynchronous -ERR that
		// the connection keeps as its last error.
		if last := c.nc.LastError(); last != nil && strings.Contains(strings.ToLower(last.Error()), "permissions violation") {
			err = last
		}
	}
	switch {
	case err == nil:
		d.Status = broker.StatusOK
		d.Detail = fmt.Sprintf("enabled: %d stream(s), %d consumer(s)", info.Streams, info.Consumers)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		d.Status, d.Detail = broker.StatusFail, "not enabled for this account: lag, dlq and streams fail; core NATS only (produce and consume --core)"
	case errors.Is(err, nats.ErrPermissionViolation), strings.Contains(strings.ToLower(err.Error()), "permissions violation"):
		d.Status, d.Detail = broker.StatusFail, "this user may not use the JetStream API ($JS.API.>)"
	case errors.Is(err, nats.ErrNoResponders):
		d.Status, d.Detail = broker.StatusFail, "no JetStream server answers: lag, dlq and streams fail; core NATS only (produce and consume --core)"
	default:
		d.Status, d.Detail = broker.StatusUnknown, "no answer from the JetStream API: "+reason(err)+" (denied by permissions, or JetStream unavailable)"
	}
	return d
}

// describeLogin says how t logs in, without any secret, and the user
// name, which the description holds as broker.UserMark.
func describeLogin(t broker.Target, ep *broker.Endpoint) (login, user string) {
	switch {
	case t.CredsFile != "":
		return "credentials file", ""
	case t.NKeyFile != "":
		return "nkey", ""
	case t.Token != "" || (ep.HasUser && ep.Password == "" && t.Username == "" && t.Password == ""):
		return "token", ""
	case t.Username != "":
		return "user " + broker.UserMark, t.Username
	case ep.Username != "":
		return "user " + broker.UserMark, ep.Username
	}
	return "no credentials", ""
}
