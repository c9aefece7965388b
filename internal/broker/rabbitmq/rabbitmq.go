// Package rabbitmq is the RabbitMQ driver: AMQP 0-9-1 through amqp091-go
// for messages, and the management HTTP API for what AMQP cannot tell
// (listing queues, depths, consumers).
package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func init() { broker.Register(driver{}, "amqp", "amqps") }

type driver struct{}

func (driver) Open(ctx context.Context, t broker.Target) (broker.Conn, error) { return Open(ctx, t) }

// Conn is an open AMQP connection plus a client of the management API of
// the same broker.
type Conn struct {
	conn  *amqp.Connection
	addr  string
	vhost string
	mgmt  *Management
	// redial opens another connection like conn (same hosts, credentials,
	// TLS), for a role that needs its own and must reconnect after a
	// broker restart; amqp091 forgets the password once a connection is open.
	redial func(ctx context.Context) (*amqp.Connection, string, error)
	// timeout is the target's bound on connecting and on each round trip.
	timeout time.Duration
}

var _ broker.Lister = (*Conn)(nil)

// Broker is "rabbitmq".
func (c *Conn) Broker() string { return "rabbitmq" }

// AMQP is the underlying connection, for the roles built on it.
func (c *Conn) AMQP() *amqp.Connection { return c.conn }

// Addr is the host:port this connection reached.
func (c *Conn) Addr() string { return c.addr }

// VHost is the virtual host the connection is bound to.
func (c *Conn) VHost() string { return c.vhost }

// Management is the management API client for this broker.
func (c *Conn) Management() *Management { return c.mgmt }

// Close closes the AMQP connection; closing twice is not an error.
func (c *Conn) Close() error {
	if err := c.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return err
	}
	return nil
}

// credentials are what the connection logs in with.
type credentials struct {
	user, pass string
	// external logs in with the TLS client certificate (SASL EXTERNAL).
	external bool
}

// Open connects to the broker of t.URL, trying its hosts in order, bounded
// by ctx (the TLS and AMQP handshakes included). The URL's path is the
// vhost ("/" when empty; %2f escapes a slash); t.Username and t.Password
// override the URL's credentials, which default to guest/guest.
func Open(ctx context.Context, t broker.Target) (*Conn, error) {
	ep, err := broker.ParseEndpoint(t.URL)
	if err != nil {
		return nil, err
	}
	if ep.Scheme != "amqp" && ep.Scheme != "amqps" {
		return nil, mqerr.Usagef("not an AMQP URL: %s", t.Redacted())
	}
	useTLS := ep.Scheme == "amqps" || t.TLS.Enabled
	vhost := ep.Path
	if vhost == "" {
		vhost = "/"
	}
	cred := resolveCredentials(ep, t, useTLS)
	var tlsCfg *tls.Config
	if useTLS {
		if tlsCfg, err = tlsConfig(t.TLS); err != nil {
			return nil, err
		}
	}
	port := "5672"
	if useTLS {
		port = "5671"
	}

	hosts := ep.HostsWithPort(port)
	redial := func(ctx context.Context) (*amqp.Connection, string, error) {
		var lastErr error
		for _, addr := range hosts {
			conn, err := dial(ctx, addr, vhost, cred, tlsCfg, t.Heartbeat)
			if err == nil {
				return conn, addr, nil
			}
			lastErr = err
			// Another host of the cluster may answer; a refusal would be the same everywhere.
			if !mqerr.Is(err, mqerr.Unreachable) || ctx.Err() != nil {
				break
			}
		}
		return nil, "", lastErr
	}
	conn, addr, err := redial(ctx)
	if err != nil {
		return nil, err
	}
	mgmt, err := newManagement(t, useTLS, addr, cred)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Conn{conn: conn, addr: addr, vhost: vhost, mgmt: mgmt, redial: redial, timeout: t.EffectiveTimeout()}, nil
}

// resolveCredentials: t.Username and t.Password override the URL's; a TLS
// client certificate without a password logs in with SASL EXTERNAL; with
// nothing given, guest/guest, as every AMQP client does.
func resolveCredentials(ep *broker.Endpoint, t broker.Target, useTLS bool) credentials {
	var c credentials
	if ep.HasUser {
		c = credentials{user: ep.Username, pass: ep.Password}
	}
	if t.Username != "" {
		c.user = t.Username
	}
	if t.Password != "" {
		c.pass = t.Password
	}
	switch {
	case useTLS && t.TLS.CertFile != "" && c.pass == "":
		c.external = true
	case c.user == "" && c.pass == "":
		c = credentials{user: "guest", pass: "guest"}
	}
	return c
}

// dial opens one AMQP connection. The URL handed to amqp091 carries no
// credentials, so none of its errors can echo them.
func dial(ctx context.Context, addr, vhost string, cred credentials, tlsCfg *tls.Config, heartbeat time.Duration) (*amqp.Connection, error) {
	budget := time.Duration(0)
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d).Round(100 * time.Millisecond)
	}
	host, _, _ := net.SplitHostPort(addr)
	scheme := "amqp"
	cfg := amqp.Config{
		Vhost:      vhost,
		Heartbeat:  heartbeat,
		Properties: amqp.NewConnectionProperties(),
		SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: cred.user, Password: cred.pass}},
	}
	cfg.Properties.SetClientConnectionName("mqctl")
	if cred.external {
		cfg.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
	}
	if tlsCfg != nil {
		scheme = "amqps"
		cfg.TLSClientConfig = tlsCfg.Clone()
		if cfg.TLSClientConfig.ServerName == "" {
			cfg.TLSClientConfig.ServerName = host
		}
	}
	// stopWatch ends the watch that aborts the handshake when ctx ends;
	// amqp091 clears the deadline we set once the connection is open.
	var stopWatch func() bool
	cfg.Dial = func(network, a string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			if err := nc.SetDeadline(dl); err != nil {
				nc.Close()
				return nil, err
			}
		}
		stopWatch = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
		return nc, nil
	}
	conn, err := amqp.DialConfig(scheme+"://"+addr+"/", cfg)
	if stopWatch != nil && !stopWatch() && err == nil {
		// ctx ended right as the handshake finished: the deadline in the
		// past would break the connection later, so give it up now.
		conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, classify(ctx, err, addr, vhost, cred.user, budget)
	}
	return conn, nil
}

// classify turns a failed dial into a typed, one-line error that names the
// address, the user and the vhost, but never the password.
func classify(ctx context.Context, err error, addr, vhost, user string, budget time.Duration) error {
	var aerr *amqp.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return mqerr.New(mqerr.Interrupted, "connecting to rabbitmq at %s: interrupted", addr)
	case pastDeadline(ctx) || isTimeout(err):
		within := ""
		if budget > 0 {
			within = " within " + budget.String()
		}
		return mqerr.New(mqerr.Unreachable, "cannot reach rabbitmq at %s%s: %s", addr, within, reason(ctx, err))
	case errors.Is(err, amqp.ErrVhost):
		return mqerr.New(mqerr.Auth, "rabbitmq at %s: user %q has no access to vhost %q", addr, user, vhost)
	case errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused:
		return mqerr.New(mqerr.Auth, "rabbitmq at %s refused user %q: %s", addr, user, aerr.Reason)
	case errors.As(err, &aerr) && aerr.Code == amqp.NotAllowed:
		// RabbitMQ answers connection.open with 530 NOT_ALLOWED both for a
		// vhost that does not exist and for one the user may not use.
		if strings.Contains(aerr.Reason, "not found") {
			return mqerr.New(mqerr.NotFound, "rabbitmq at %s: vhost %q not found", addr, vhost)
		}
		if strings.Contains(aerr.Reason, "refused") {
			return mqerr.New(mqerr.Auth, "rabbitmq at %s: user %q has no access to vhost %q", addr, user, vhost)
		}
		return mqerr.New(mqerr.Failure, "rabbitmq at %s did not open vhost %q: %s", addr, vhost, aerr.Reason)
	case errors.As(err, &aerr) && aerr.Server:
		return mqerr.New(mqerr.Failure, "rabbitmq at %s closed the connection: %s", addr, aerr.Reason)
	case errors.As(err, &aerr):
		// amqp091's own error for a failed read or write mid-handshake.
		return mqerr.New(mqerr.Unreachable, "cannot reach rabbitmq at %s: the connection broke during the AMQP handshake (%s); is it an AMQP port?", addr, aerr.Reason)
	case errors.As(err, &certErr):
		return mqerr.New(mqerr.Failure, "TLS with rabbitmq at %s: %v (set the CA file, or the server name the certificate is for)", addr, certErr.Err)
	case isNetError(err):
		return mqerr.New(mqerr.Unreachable, "cannot reach rabbitmq at %s: %s", addr, reason(ctx, err))
	}
	return mqerr.New(mqerr.Failure, "connect to rabbitmq at %s: %v", addr, err)
}

// pastDeadline reports whether ctx has ended or its deadline has passed:
// the connection's deadline, set to the same instant, may fire before
// ctx's own timer does.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(d))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isNetError reports a failure of the transport, not a refusal by the
// broker: nothing listening, a reset, a peer that hung up mid-handshake.
func isNetError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// reason is the innermost useful text of a transport error: "connection
// refused" rather than "dial tcp 127.0.0.1:1: connect: connection refused".
func reason(ctx context.Context, err error) string {
	var errno syscall.Errno
	var dns *net.DNSError
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dns):
		return dns.Err + " (" + dns.Name + ")"
	case pastDeadline(ctx), isTimeout(err):
		return "timed out"
	case errors.Is(err, io.EOF):
		return "the server closed the connection"
	}
	return err.Error()
}
