package config

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Overrides are the global flags that take part in resolving a target.
type Overrides struct {
	Context string        // -c/--context
	URL     string        // --url
	Timeout time.Duration // --timeout, 0 when not given
}

// singleTargetEnv are the variables that select or log in to the one
// target of a command.
var singleTargetEnv = []string{"MQCTL_CONTEXT", "MQCTL_URL", "MQCTL_USERNAME", "MQCTL_PASSWORD"}

// ContextOnly wraps getenv for resolving a context named among several
// (lag -c a,b, dlq move --to-context): MQCTL_CONTEXT, MQCTL_URL,
// MQCTL_USERNAME and MQCTL_PASSWORD read as unset, so one target's
// credentials are never sent to the other brokers. Every other variable,
// such as one a context names in password_env, reads as usual.
func ContextOnly(getenv func(string) string) func(string) string {
	return func(k string) string {
		if slices.Contains(singleTargetEnv, k) {
			return ""
		}
		return getenv(k)
	}
}

// Resolve picks the context and builds the target. The context and the URL
// are chosen as one pair, from the highest source that names either:
//
//  1. flags: -c (a context; --url then overrides its URL and keeps its
//     credentials) or --url alone (no stored credentials at all);
//  2. environment: MQCTL_CONTEXT or MQCTL_URL, likewise; both set at once
//     is refused as ambiguous;
//  3. the file's current context.
//
// A URL from a lower source than the chosen context is ignored, so a shell
// or CI that exports MQCTL_URL never sends a context's credentials to that
// host, and MQCTL_CONTEXT never lends its credentials to a --url.
//
// The login is then taken field by field (user, password, token), most
// specific first: the user info of the URL chosen with --url or MQCTL_URL,
// then MQCTL_USERNAME and MQCTL_PASSWORD, then the context (its fields,
// then the user info of its stored URL). So `-c prod --url
// amqp://admin:pw@h/` logs in as admin with pw, never with prod's password.
func Resolve(f *File, ov Overrides, getenv func(string) string) (broker.Target, error) {
	var name, url string
	switch {
	case ov.Context != "" || ov.URL != "":
		name, url = ov.Context, ov.URL
	case getenv("MQCTL_CONTEXT") != "" && getenv("MQCTL_URL") != "":
		return broker.Target{}, mqerr.Usagef("MQCTL_CONTEXT and MQCTL_URL are both set: unset one, or pass -c or --url")
	case getenv("MQCTL_CONTEXT") != "" || getenv("MQCTL_URL") != "":
		name, url = getenv("MQCTL_CONTEXT"), getenv("MQCTL_URL")
	default:
		name = f.CurrentContext
	}
	if ov.Timeout < 0 {
		return broker.Target{}, mqerr.Usagef("--timeout %s: want a positive duration such as 500ms or 10s", ov.Timeout)
	}

	var t broker.Target
	if name != "" {
		c, ok := f.Get(name)
		if !ok {
			return t, NotFound(name)
		}
		var err error
		if t, err = c.target(getenv); err != nil {
			return t, err
		}
	}
	var fromURL *broker.Endpoint
	if url != "" {
		ep, err := broker.ParseEndpoint(url)
		if err != nil {
			return t, err
		}
		if name != "" {
			// The context's URL is replaced: keep the login it held.
			if err := keepURLLogin(&t); err != nil {
				return t, err
			}
		}
		t.URL = url
		if ep.HasUser {
			fromURL = ep
			user, pass, token := ep.Credentials()
			t.Username, t.Token = user, token
			if ep.HasPassword {
				t.Password = pass
			}
		}
	}
	if u := getenv("MQCTL_USERNAME"); u != "" && fromURL == nil {
		t.Username = u
	}
	if p := getenv("MQCTL_PASSWORD"); p != "" && (fromURL == nil || !fromURL.HasPassword) {
		t.Password = p
	}
	if ov.Timeout > 0 {
		t.Timeout = ov.Timeout
	}
	if t.URL == "" {
		return t, mqerr.Usagef("no broker selected: pass --url or -c CONTEXT, set MQCTL_URL, or run 'mqctl context use NAME'")
	}
	if _, err := broker.ParseEndpoint(t.URL); err != nil {
		return t, err
	}
	return t, nil
}

// keepURLLogin moves the login held in t's URL into t's fields, where
// they do not already name one, before that URL is replaced.
func keepURLLogin(t *broker.Target) error {
	ep, err := broker.ParseEndpoint(t.URL)
	if err != nil {
		return err
	}
	if !ep.HasUser {
		return nil
	}
	user, pass, token := ep.Credentials()
	if t.Username == "" && t.Token == "" {
		t.Username, t.Token = user, token
	}
	if t.Password == "" {
		t.Password = pass
	}
	return nil
}

// target turns a stored context into a Target, reading secrets from the
// environment or files it names.
func (c Context) target(getenv func(string) string) (broker.Target, error) {
	t := broker.Target{
		Context:       c.Name,
		URL:           c.URL,
		Username:      c.Username,
		CredsFile:     c.CredsFile,
		NKeyFile:      c.NKeyFile,
		TLS:           c.TLS,
		SASL:          c.SASL,
		ManagementURL: c.ManagementURL,
		Heartbeat:     time.Duration(c.Heartbeat),
		Timeout:       time.Duration(c.Timeout),
		ReadOnly:      c.ReadOnly,
	}
	if c.Timeout < 0 {
		return t, mqerr.Usagef("context %q: timeout %s: want a positive duration such as 500ms or 10s", c.Name, time.Duration(c.Timeout))
	}
	var err error
	if t.Password, err = secret(getenv, c.Name, "password", c.Password, c.PasswordEnv, c.PasswordFile); err != nil {
		return t, err
	}
	if t.Token, err = secret(getenv, c.Name, "token", c.Token, c.TokenEnv, c.TokenFile); err != nil {
		return t, err
	}
	for _, env := range []string{c.PasswordEnv, c.TokenEnv} {
		if env != "" {
			t.SecretEnv = append(t.SecretEnv, env)
		}
	}
	return t, nil
}

// secret reads a secret from (in order) an env var, a file, or the inline value.
func secret(getenv func(string) string, ctxName, what, inline, env, file string) (string, error) {
	if env != "" {
		v := getenv(env)
		if v == "" {
			return "", mqerr.Usagef("context %q: %s_env names %s, which is not set or empty", ctxName, what, env)
		}
		return v, nil
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", mqerr.Usagef("context %q: cannot read %s_file: %v", ctxName, what, err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	return inline, nil
}
