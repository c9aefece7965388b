// Package nats is mqctl's driver for NATS: core NATS through nats.go and
// JetStream through its jetstream package. It registers the nats:// and
// tls:// URL schemes.
//
// What NATS cannot carry when publishing: a message key (NATS has none; it
// goes in the header broker.KeyHeader), a timestamp (the server stamps its own), and the order of
// headers across different names (nats.Header is a map; the values of one
// name keep their order). Every message goes to ProducerOptions.Destination,
// or with PerMessageDestination to its own Message.NATS.Subject.
package nats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqctl/mqctl/internal/broker"
)

func init() { broker.Register(driver{}, "nats", "tls") }

// defaultPort is used for hosts given without a port.
const defaultPort = "4222"

type driver struct{}

// Conn is an open NATS connection with its JetStream context.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream
	// hosts names the servers in messages; it never carries credentials.
	hosts string
	// login says how the connection logged in (user, the user name it
	// holds as broker.UserMark) and tls what TLS was asked for, for
	// doctor.
	login, user string
	tls         broker.TLSOptions
}

// Broker implements broker.Conn.
func (c *Conn) Broker() string { return "nats" }

// NATS is the underlying core NATS connection.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// JetStream is the JetStream context bound to the connection.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// Close closes the connection without draining: mqctl's commands settle
// their own work before they close.
func (c *Conn) Close() error {
	c.nc.Close()
	return nil
}

// Open implements broker.Driver. It connects to every host of t's URL and
// returns within ctx's deadline, connected or with a typed error.
func (driver) Open(ctx context.Context, t broker.Target) (broker.Conn, error) {
	ep, err := broker.ParseEndpoint(t.URL)
	if err != nil {
		return nil, err
	}
	hosts := ep.HostsWithPort(defaultPort)
	hostList := strings.Join(hosts, ",")
	opts, err := connectOptions(t, ep)
	if err != nil {
		return nil, err
	}

	budget := t.EffectiveTimeout()
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl)
	}
	if budget <= 0 {
		return nil, unreachable(hostList, budget, "timed out")
	}
	// nats.go applies Timeout to each server in turn (dial, then handshake),
	// so each gets an equal share: a black-holed first host cannot use up
	// the whole budget before the others are tried.
	opts = append(opts, nats.Timeout(budget/time.Duration(len(hosts))))

	nc, err := connect(ctx, serverURLs(ep.Scheme, hosts), opts)
	if err != nil {
		return nil, classify(err, hostList, budget)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats at %s: jetstream: %w", hostList, err)
	}
	login, user := describeLogin(t, ep)
	return &Conn{nc: nc, js: js, hosts: hostList, login: login, user: user, tls: t.TLS}, nil
}

// serverURLs lists one URL per host, without user info: credentials go in
// options so that nats.go can never echo them in an error.
func serverURLs(scheme string, hosts []string) string {
	urls := make([]string, len(hosts))
	for i, h := range hosts {
		urls[i] = scheme + "://" + h
	}
	return strings.Join(urls, ",")
}

// connect runs nats.Connect, which takes no context, so that Open returns
// when ctx ends even if a server stalls mid-handshake. A connection that
// completes after that is closed.
func connect(ctx context.Context, servers string, opts []nats.Option) (*nats.Conn, error) {
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(servers, opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}
