// Package kafka is mqctl's Kafka driver, built on franz-go: kgo for the
// client and kadm for cluster administration. Importing it registers the
// kafka:// scheme with the broker registry.
package kafka

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func init() { broker.Register(driver{}, "kafka") }

type driver struct{}

// Conn is an open, verified connection to a Kafka cluster.
type Conn struct {
	client *kgo.Client
	admin  *kadm.Client
	// seeds are the host:port addresses from the URL, named in errors.
	seeds []string
	// login describes the SASL login for errors ("" without SASL);
	// doctorLogin is the same with the user name, user, as
	// broker.UserMark.
	login, doctorLogin, user string
	probe                    *probe
	secrets                  []string
	// tls is the target's TLS settings, on when the client dials TLS,
	// for doctor.
	tls   broker.TLSOptions
	tlsOn bool
}

// Open builds a client for t's seed brokers and checks, within ctx and t's
// timeout, that the cluster answers a metadata request: kgo connects lazily,
// so without this check a wrong address or password would only show up in
// the first command.
func (driver) Open(ctx context.Context, t broker.Target) (broker.Conn, error) {
	ep, err := broker.ParseEndpoint(t.URL)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(t.TLS)
	if err != nil {
		return nil, err
	}
	mech, user, err := saslMechanism(t, ep)
	if err != nil {
		return nil, err
	}

	timeout := t.EffectiveTimeout()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	within := remaining(ctx)

	c := &Conn{
		seeds:   ep.HostsWithPort(defaultPort),
		probe:   &probe{abort: cancel},
		secrets: t.Secrets(),
		tls:     t.TLS,
		tlsOn:   tlsCfg != nil,
	}
	dial := &dialer{net: &net.Dialer{Timeout: timeout}, tls: tlsCfg}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.seeds...),
		// Names mqctl in broker logs and quotas.
		kgo.ClientID("mqctl"),
		// A new connection's handshake ends with the request's context
		// (see dialer).
		kgo.Dialer(dial.DialContext),
		// Both default to 10s; the target's timeout is the user's bound
		// for a dial and for one round trip. The dialer applies the
		// first; kgo.DialTimeout records it for OptValue.
		kgo.DialTimeout(timeout),
		kgo.RequestTimeoutOverhead(timeout),
		// kgo refreshes metadata after an error at most once per min
		// age (default 5s), and until then a partition whose leader
		// moved can stall. On a 3-broker kfake: a group member whose
		// offset check met a second leader move stalled 5.0 s (now
		// 1.0 s, kgo's retry timer); without KIP-951 leader hints
		// (Kafka < 3.7) produce stalled a median 3.7 s per move (now
		// 0.01 s). Cost: still no metadata requests on a healthy
		// cluster; with a partition leader down, 1.5 a second from a
		// producer (0.2 with 5s).
		kgo.MetadataMinAge(500 * time.Millisecond),
		kgo.WithHooks(c.probe, dial),
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
		c.login = fmt.Sprintf("SASL %s login for user %q", mech.Name(), user)
		c.doctorLogin, c.user = fmt.Sprintf("SASL %s login for user %s", mech.Name(), broker.UserMark), user
	}
	if c.client, err = kgo.NewClient(opts...); err != nil {
		return nil, mqerr.Usagef("kafka client for %s: %v", hostList(c.seeds), err)
	}
	c.admin = kadm.NewClient(c.client)

	// A broker that accepts the connection and never answers does not
	// hold up Ctrl-C: the dialer cuts the handshake when ctx ends.
	if _, err = c.admin.BrokerMetadata(ctx); err != nil {
		c.client.Close()
		if parent.Err() != nil {
			err = parent.Err()
		}
		return nil, c.classify(err, within)
	}
	return c, nil
}

// Broker names the broker family.
func (c *Conn) Broker() string { return "kafka" }

// Client is the underlying franz-go client, for commands that produce or
// consume.
func (c *Conn) Client() *kgo.Client { return c.client }

// Admin is the kadm client sharing Client's connections.
func (c *Conn) Admin() *kadm.Client { return c.admin }

// Close closes the client and its connections.
func (c *Conn) Close() error {
	c.client.Close()
	return nil
}

// remaining is how long ctx has left, rounded for messages ("2s", not
// "1.999987s"); 0 when ctx has no deadline.
func remaining(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	d := time.Until(dl)
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}
