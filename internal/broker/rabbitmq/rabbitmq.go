// Package rabbitmq is the RabbitMQ driver: AMQP 0-9-1 through amqp091-go
// for messages, and the management HTTP API for what AMQP cannot tell
// (listing queues, depths, consumers).
package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
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
	// user is the user the connection logged in as ("" with EXTERNAL:
	// the certificate names it), the only user_id the broker accepts.
	user string
	// external, tlsOn and tls describe the login for doctor.
	external bool
	tlsOn    bool
	tls      broker.TLSOptions
}

var _ broker.Lister = (*Conn)(nil)

// Broker is "rabbitmq".
func (c *Conn) Broker() string { return "rabbitmq" }

// AMQP is the underlying connection, for the roles built on it.
func (c *Conn) AMQP() *amqp.Connection { return c.conn }

// Ended reports whether the AMQP connection is closed (the node
// restarted, or a heartbeat went unanswered): amqp091 does not redial.
func (c *Conn) Ended() bool { return c.conn.IsClosed() }

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
	return &Conn{conn: conn, addr: addr, vhost: vhost, mgmt: mgmt, redial: redial, timeout: t.EffectiveTimeout(),
		user: loginUser(cred), external: cred.external, tlsOn: useTLS, tls: t.TLS}, nil
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

func loginUser(c credentials) string {
	if c.external {
		return ""
	}
	return c.user
}

// verdictGrace is how long past its deadline a connection that has sent
// its credentials waits for the broker's answer to them. RabbitMQ holds
// back a refusal for 3 s (its SILENT_CLOSE_DELAY, against password
// guessing), so without it a wrong password under a short --timeout would
// be reported as an unreachable broker.
const verdictGrace = 5 * time.Second

// dial opens one AMQP connection. The URL handed to amqp091 carries no
// credentials, so none of its errors can echo them. TLS is done here, not
// by amqp091, so that handshakeConn sees the AMQP frames.
func dial(ctx context.Context, addr, vhost string, cred credentials, tlsCfg *tls.Config, heartbeat time.Duration) (*amqp.Connection, error) {
	budget := time.Duration(0)
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d).Round(100 * time.Millisecond)
	}
	host, _, _ := net.SplitHostPort(addr)
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
	// stopWatch ends the watch that stops the handshake when ctx ends;
	// amqp091 clears the deadline it sets once the connection is open.
	var stopWatch func() bool
	var hc *handshakeConn
	cfg.Dial = func(network, a string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		conn := nc
		if tlsCfg != nil {
			tc := tlsCfg.Clone()
			if tc.ServerName == "" {
				tc.ServerName = host
			}
			client := tls.Client(nc, tc)
			if err := client.HandshakeContext(ctx); err != nil {
				nc.Close()
				return nil, err
			}
			conn = client
		}
		hc = &handshakeConn{Conn: conn, raw: nc}
		stopWatch = context.AfterFunc(ctx, func() { hc.expire(ctx) })
		return hc, nil
	}
	conn, err := amqp.DialConfig("amqp://"+addr+"/", cfg)
	if stopWatch != nil && !stopWatch() && err == nil {
		// ctx ended right as the handshake finished, or the broker accepted
		// the credentials only during the grace: the connection came too
		// late, and its deadline may already be in the past.
		conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, classify(ctx, err, addr, vhost, cred.user, budget, hc != nil && hc.heardVerdict())
	}
	return conn, nil
}

// handshakeConn watches the AMQP handshake on a connection: once the
// client has sent its credentials (connection.start-ok), ctx ending does
// not cut the connection at once but leaves verdictGrace for the broker's
// answer, so that a refusal is reported as the refusal it is.
type handshakeConn struct {
	net.Conn
	// raw is the TCP connection (under TLS), whose deadline stops both.
	raw net.Conn

	mu sync.Mutex
	// awaiting: credentials sent, nothing read since.
	awaiting bool
	// heard: the broker answered the credentials (with data, or by hanging up).
	heard bool
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if isStartOK(p) {
		c.mu.Lock()
		c.awaiting = true
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.awaiting && (n > 0 || (err != nil && !broker.IsTimeout(err))) {
		c.awaiting, c.heard = false, true
	}
	c.mu.Unlock()
	return n, err
}

// expire stops the handshake when ctx ends: at once, unless the deadline
// passed while the broker was deciding on the credentials.
func (c *handshakeConn) expire(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.awaiting && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		c.raw.SetDeadline(time.Now().Add(verdictGrace))
		return
	}
	c.raw.SetDeadline(time.Unix(1, 0))
}

func (c *handshakeConn) heardVerdict() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heard
}

// isStartOK reports whether p begins with a connection.start-ok method
// frame: type 1, channel 0, a 4-byte size, class 10, method 11.
func isStartOK(p []byte) bool {
	return len(p) >= 11 && p[0] == 1 && p[1] == 0 && p[2] == 0 &&
		p[7] == 0 && p[8] == 10 && p[9] == 0 && p[10] == 11
}

// classify turns a failed dial into a typed, one-line error that names the
// address, the user and the vhost, but never the password. heard says the
// broker answered the credentials: a refusal is then the broker's word,
// even when it came after the deadline.
func classify(ctx context.Context, err error, addr, vhost, user string, budget time.Duration, heard bool) error {
	var aerr *amqp.Error
	var certErr *tls.CertificateVerificationError
	// amqp091 reports any failure after start-ok as bad credentials, our
	// own deadline included; only the broker's reply, or its hanging up
	// on the credentials, says so for sure.
	refused := errors.As(err, &aerr) && (aerr.Server || (heard && aerr.Code == amqp.AccessRefused))
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return mqerr.New(mqerr.Interrupted, "connecting to rabbitmq at %s: interrupted", addr)
	case !refused && (broker.PastDeadline(ctx) || broker.IsTimeout(err)):
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
	case broker.IsTransportError(err):
		return mqerr.New(mqerr.Unreachable, "cannot reach rabbitmq at %s: %s", addr, reason(ctx, err))
	}
	return mqerr.New(mqerr.Failure, "connect to rabbitmq at %s: %v", addr, err)
}

// reason is the short cause of a transport error, worded as on every
// broker (broker.TransportReason).
func reason(ctx context.Context, err error) string { return broker.TransportReason(ctx, err) }
