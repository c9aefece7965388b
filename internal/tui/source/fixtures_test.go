package source

import (
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// natsJetStream starts an embedded nats-server with JetStream and returns
// it with the test's own JetStream client, closed when the test ends.
func natsJetStream(t *testing.T) (*sandbox.NATS, jetstream.JetStream) {
	t.Helper()
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, js
}

// vhost is a vhost of its own on the test RabbitMQ, its AMQP URL, and
// the test's own connection to it with a channel on that.
type vhost struct {
	name, url string
	conn      *amqp.Connection
	ch        *amqp.Channel
}

// newVHost makes a vhost on env; its connection is closed when the test
// ends, if the test has not closed it.
func newVHost(t *testing.T, env *testenv.RabbitMQEnv) vhost {
	t.Helper()
	v := vhost{name: env.NewVHost(t)}
	v.url = strings.TrimSuffix(env.AMQPURL, "/") + "/" + url.PathEscape(v.name)
	var err error
	if v.conn, err = amqp.Dial(v.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.conn.Close() })
	if v.ch, err = v.conn.Channel(); err != nil {
		t.Fatal(err)
	}
	return v
}
