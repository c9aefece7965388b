package consume

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/testenv"
)

// jobs is a vhost of its own on the test RabbitMQ with a durable queue
// "jobs", and the test's own connection to it.
type jobs struct {
	vhost, url string
	conn       *amqp.Connection
	ch         *amqp.Channel
}

// jobsQueue makes jobs holding n messages whose message ids are 1 to n,
// published by amqp091-go.
func jobsQueue(t *testing.T, ctx context.Context, env *testenv.RabbitMQEnv, n int) jobs {
	t.Helper()
	j := jobs{vhost: env.NewVHost(t)}
	j.url = strings.TrimSuffix(env.AMQPURL, "/") + "/" + j.vhost
	var err error
	if j.conn, err = amqp.Dial(j.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.conn.Close() })
	if j.ch, err = j.conn.Channel(); err != nil {
		t.Fatal(err)
	}
	ch := j.ch
	if _, err := ch.QueueDeclare("jobs", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := ch.PublishWithContext(ctx, "", "jobs", false, false, amqp.Publishing{MessageId: strconv.Itoa(i), Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitQueue(t, ch, "jobs", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
	return j
}
