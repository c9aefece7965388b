package kafka

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dialer dials the brokers for kgo and ties each new connection's
// handshake to the context of the request that dialed it.
//
// kgo runs a connection's handshake (ApiVersions, SASL) on the client's
// own context, not the request's, and the request waits for it whatever
// its context says. So a request to a broker that accepts connections and
// never answers (the partition leader, group coordinator or random broker
// metadata names) ignored Ctrl-C until the round-trip timeout ran out:
// 59.5 s of a --timeout 60s for consume and produce, whose first metadata
// request went to such a second broker. Here the context ending cuts the
// handshake at once, with the context's error. Once kgo reports the
// connection (OnBrokerConnect) the handshake is over and the context no
// longer matters: kgo watches each request's own context from then on.
type dialer struct {
	net *net.Dialer
	// tls is the client's TLS configuration, nil for plaintext.
	tls *tls.Config
}

var _ kgo.HookBrokerConnect = (*dialer)(nil)

// DialContext dials addr as kgo's own dialer does (a TLS server name
// defaults to the host dialed) and watches ctx until the handshake ends.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	if d.tls == nil {
		conn, err = d.net.DialContext(ctx, network, addr)
	} else {
		cfg := d.tls.Clone()
		if cfg.ServerName == "" {
			if cfg.ServerName, _, err = net.SplitHostPort(addr); err != nil {
				return nil, err
			}
		}
		conn, err = (&tls.Dialer{NetDialer: d.net, Config: cfg}).DialContext(ctx, network, addr)
	}
	if err != nil || ctx.Done() == nil {
		return conn, err
	}
	hc := &handshakeConn{Conn: conn}
	hc.unwatch = context.AfterFunc(ctx, func() { hc.cut(ctx.Err()) })
	return hc, nil
}

// OnBrokerConnect implements kgo.HookBrokerConnect: kgo calls it when a
// connection's handshake succeeded or failed.
func (d *dialer) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, conn net.Conn, err error) {
	if hc, ok := conn.(*handshakeConn); ok {
		hc.handshaken(err == nil)
	}
}

// handshakeConn is a connection whose handshake a context can cut.
type handshakeConn struct {
	net.Conn
	unwatch func() bool

	mu sync.Mutex
	// over is set once kgo reported the connection.
	over bool
	// err is why the handshake was cut: every read and write fails with
	// it, and kgo's deadlines no longer apply, so the one set in the past
	// holds.
	err error
}

func (c *handshakeConn) cut(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return
	}
	c.err = err
	c.Conn.SetDeadline(time.Now())
}

// handshaken ends the watch. A handshake that succeeded although the
// context ended as it finished keeps its connection usable.
func (c *handshakeConn) handshaken(ok bool) {
	c.unwatch()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.over = true
	if ok && c.err != nil {
		c.err = nil
		c.Conn.SetDeadline(time.Time{})
	}
}

// cutErr is the context's error once the handshake was cut, else err.
func (c *handshakeConn) cutErr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return err
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		err = c.cutErr(err)
	}
	return n, err
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		err = c.cutErr(err)
	}
	return n, err
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetDeadline)
}

func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetReadDeadline)
}

func (c *handshakeConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetWriteDeadline)
}

func (c *handshakeConn) setDeadline(t time.Time, set func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil
	}
	return set(t)
}
