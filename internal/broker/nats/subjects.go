package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// noStreamHint is what a producer with one destination can do when no
// stream captures it.
const noStreamHint = " (use --core to publish without confirm)"

// checkStream fails unless a JetStream stream captures subject: without
// one, every publish would wait for a PubAck that never comes. hint ends
// the messages of a missing stream or JetStream.
func (c *Conn) checkStream(ctx context.Context, subject, hint string) error {
	_, err := c.js.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return mqerr.New(mqerr.NotFound, "no JetStream stream captures subject %q%s", subject, hint)
	case jetStreamMissing(err):
		return mqerr.New(mqerr.NotFound, "JetStream is not enabled on nats at %s%s", c.hosts, hint)
	case errors.Is(err, context.Canceled):
		return err
	case violation(c.nc.LastError(), `"$JS.API.`):
		return mqerr.New(mqerr.Auth, "nats at %s denied this user the JetStream API: %s", c.hosts, reason(c.nc.LastError()))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return mqerr.New(mqerr.Unreachable, "no response from JetStream at %s while looking up the stream for subject %q", c.hosts, subject)
	}
	return fmt.Errorf("look up the JetStream stream for subject %q at %s: %s", subject, c.hosts, reason(err))
}

// checkSubject accepts a literal subject: publishing to a wildcard is
// meaningless and whitespace would break the protocol line.
func checkSubject(s string) error {
	if s == "" {
		return mqerr.Usagef("nats: a subject to publish to is required")
	}
	return checkTokens(s, true)
}

// checkTokens applies the rules every subject follows: no whitespace or
// control characters, no empty token. A literal subject has no wildcard;
// otherwise '>' may only be the last token.
func checkTokens(s string, literal bool) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return mqerr.Usagef("nats subject %q contains whitespace or a control character", s)
		}
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return mqerr.Usagef("nats subject %q has an empty token", s)
		case literal && (tok == "*" || tok == ">"):
			return mqerr.Usagef("nats subject %q has a wildcard; publishing needs a literal subject", s)
		case tok == ">" && i != len(toks)-1:
			return mqerr.Usagef("nats subject %q: the wildcard '>' must be the last token", s)
		}
	}
	return nil
}

// natsMsg writes m into msg as a nats.Msg for subject. NATS keeps the values of one
// header name in order, but not the order across names (nats.Header is a
// map), and it silently trims and rewrites values, so a value it could not
// carry unchanged fails the message instead.
func natsMsg(msg *nats.Msg, subject string, m *broker.Message) error {
	*msg = nats.Msg{Subject: subject, Data: m.Value}
	headers, err := broker.HeadersWithKey(m, keyFits)
	if err != nil {
		return err
	}
	if len(headers) == 0 && m.NATS.MsgID == "" {
		return nil
	}
	h := make(nats.Header, len(headers)+1)
	for _, hd := range headers {
		if err := checkHeader(hd.Key, hd.Value); err != nil {
			return err
		}
		h.Add(hd.Key, string(hd.Value))
	}
	if id := m.NATS.MsgID; id != "" {
		if err := checkHeaderValue(jetstream.MsgIDHeader, []byte(id)); err != nil {
			return err
		}
		if old := h[jetstream.MsgIDHeader]; len(old) > 1 || len(old) == 1 && old[0] != id {
			return mqerr.Usagef("message id %q conflicts with its %s header %q", id, jetstream.MsgIDHeader, old[0])
		}
		h[jetstream.MsgIDHeader] = []string{id}
	}
	msg.Header = h
	return nil
}

// keyFits reports whether a message key can be a header value as it is.
func keyFits(key []byte) bool { return checkHeaderValue(broker.KeyHeader, key) == nil }

// checkHeader applies NATS's rules (ADR-4 as nats.go enforces them) with an
// error that names the header: nats.go would reject a bad name with a bare
// "bad header", and would replace CR/LF and trim spaces in a value.
func checkHeader(key string, value []byte) error {
	if key == "" {
		return mqerr.Usagef("header with an empty name: NATS header names must not be empty")
	}
	for i := 0; i < len(key); i++ {
		if badNameByte[key[i]] {
			return mqerr.Usagef("header name %q is not valid on NATS: use printable ASCII without spaces or any of \"()/,:;<=>?@[\\]{}", key)
		}
	}
	return checkHeaderValue(key, value)
}

// badNameByte marks the bytes a NATS header name cannot hold: all but
// printable ASCII, and the separators of RFC 7230.
var badNameByte = func() (bad [256]bool) {
	for c := range bad {
		bad[c] = c < '!' || c > '~' || strings.IndexByte(`"()/,:;<=>?@[\]{}`, byte(c)) >= 0
	}
	return bad
}()

// checkHeaderValue applies checkHeader's rules for values; key, a valid
// name, names the header in the error.
func checkHeaderValue(key string, value []byte) error {
	if len(value) > 0 && (isSpace(value[0]) || isSpace(value[len(value)-1])) {
		return mqerr.Usagef("header %q: NATS would trim the leading or trailing whitespace of its value", key)
	}
	for _, c := range value {
		if c == '\r' || c == '\n' {
			return mqerr.Usagef("header %q: a NATS header value cannot contain CR or LF", key)
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return mqerr.Usagef("header %q: a NATS header value cannot contain control characters", key)
		}
	}
	if !utf8.Valid(value) {
		return mqerr.Usagef("header %q: a NATS header value must be text (UTF-8)", key)
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }
