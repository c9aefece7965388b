package source

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/dlq"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// After a RabbitMQ restart the refreshes answer again through the
// management API, but the AMQP connection top opened is closed for good:
// the action path opens a new one, so the dry run, the replay and the
// peek work as before the restart. The node is this test's own (a
// sandbox node with a data directory): the shared test node is never
// restarted.
func TestActionsAfterRabbitMQRestart(t *testing.T) {
	testenv.NeedRabbitMQServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "mqctl-top-restart-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	node, err := sandbox.StartRabbitMQ(ctx, sandbox.RabbitMQOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		node.Stop(ctx)
	})

	const n = 3
	conn, err := amqp.Dial(node.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"orders", "orders.dlq"} {
		args := amqp.Table{}
		if q == "orders" {
			args = amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"}
		}
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := ch.PublishWithContext(ctx, "", "orders", false, false, amqp.Publishing{Body: []byte("order-" + strconv.Itoa(i)), DeliveryMode: amqp.Persistent}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		var d amqp.Delivery
		ok := false
		for deadline := time.Now().Add(10 * time.Second); !ok; {
			if d, ok, err = ch.Get("orders", false); err != nil {
				t.Fatal(err)
			}
			if !ok && time.Now().After(deadline) {
				t.Fatal("nothing to get from orders")
			}
		}
		if err := d.Reject(false); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitQueue(t, ch, "orders.dlq", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
	conn.Close()

	s := &Brokers{Targets: []broker.Target{{Context: "own", URL: node.AMQPURL, ManagementURL: node.APIURL, Timeout: 10 * time.Second}}}
	defer s.Close()
	if _, err := s.Peek(ctx, 0, "orders.dlq", n); err != nil {
		t.Fatalf("peek before the restart: %v", err)
	}
	if err := node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// A refresh reads through the management API: it comes back without
	// the AMQP link (wait for the node to count the durable queues again).
	for deadline := time.Now().Add(time.Minute); ; {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.Read(rctx, 0)
		rcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh after the restart: %v", err)
		}
		time.Sleep(time.Second)
	}
	msgs, err := s.Peek(ctx, 0, "orders.dlq", n)
	if err != nil || len(msgs) != n {
		t.Fatalf("peek after the restart: %d messages, %v", len(msgs), err)
	}
	plan, err := s.PlanReplay(ctx, 0, "orders.dlq")
	if err != nil || plan.Replay != n {
		t.Fatalf("dry run after the restart: %+v, %v", plan, err)
	}
	st := &dlq.MoveStats{}
	if err := s.Replay(ctx, 0, "orders.dlq", 0, st); err != nil || st.Forwarded.Load() != n {
		t.Fatalf("replay after the restart: %d forwarded, %v", st.Forwarded.Load(), err)
	}
	conn, err = amqp.Dial(node.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitQueue(t, ch, "orders", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == n })
	testenv.WaitQueue(t, ch, "orders.dlq", 10*time.Second, func(q amqp.Queue) bool { return q.Messages == 0 && q.Consumers == 0 })
}
