package cmd_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// refusedRun is a consume run that must be refused, with its exit code
// and what its one error line names.
type refusedRun struct {
	args    []string
	code    int
	mention string
}

// A run refused for what --on-fail needs (a dead-letter destination or a
// source that does not exist, a retry queue of other arguments) or for
// a --serve address in use leaves nothing behind: no retry queue or
// topic, no durable consumer (issue 16 item E).
func TestConsumeOnFailRefusedCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	serve := busy.Addr().String()
	// refuse runs each of runs on url and then asks left what the run
	// left behind: it must be nothing. left removes what it finds, so
	// that each run is judged on its own.
	refuse := func(t *testing.T, url string, runs []refusedRun, left func() []string) {
		t.Helper()
		c := newCLI(t)
		for _, r := range runs {
			expectError(t, c.run(append(r.args, "--url", url)...), r.code, r.mention)
			if got := left(); len(got) > 0 {
				t.Errorf("%v left %q behind", r.args, got)
			}
		}
	}

	t.Run("rabbitmq", func(t *testing.T) {
		u, ch := rabbitQueue(t, "work", nil)
		// A retry queue of other arguments: declaring it is refused.
		if _, err := ch.QueueDeclare("work.retry.2s", true, false, false, false, amqp.Table{"x-message-ttl": int32(5000)}); err != nil {
			t.Fatal(err)
		}
		conn, err := amqp.Dial(u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		left := func() []string {
			var found []string
			for _, q := range []string{"work.retry.1s", "nope.retry.1s", "nope"} {
				check, err := conn.Channel()
				if err != nil {
					t.Fatal(err)
				}
				_, err = check.QueueDeclarePassive(q, true, false, false, false, nil)
				check.Close()
				if e := (*amqp.Error)(nil); !errors.As(err, &e) || e.Code != amqp.NotFound {
					found = append(found, q)
					if _, err := ch.QueueDelete(q, false, false, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			return found
		}
		refuse(t, u, []refusedRun{
			{[]string{"consume", "work", "--exec", "cat", "--on-fail", "retry=1s,dead-letter=missing.q"}, 5, `queue "missing.q" does not exist`},
			{[]string{"consume", "work", "--exec", "cat", "--on-fail", "retry=1s,stop", "--serve", serve}, 2, "--serve"},
			{[]string{"consume", "nope", "--exec", "cat", "--on-fail", "retry=1s,stop"}, 5, `queue "nope" does not exist`},
			{[]string{"consume", "work", "--exec", "cat", "--on-fail", "retry=1s,2s,stop"}, 1, "PRECONDITION_FAILED"},
		}, left)
	})

	t.Run("kafka", func(t *testing.T) {
		k, cl := kafkaTopic(t, "work", 1, nil)
		left := func() []string {
			topics, err := kadm.NewClient(cl).ListTopics(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			delete(topics, "work")
			if len(topics) > 0 {
				if _, err := kadm.NewClient(cl).DeleteTopics(context.Background(), topics.Names()...); err != nil {
					t.Fatal(err)
				}
			}
			return topics.Names()
		}
		refuse(t, k.URL, []refusedRun{
			{[]string{"consume", "work", "--group", "g", "--exec", "cat", "--on-fail", "retry=1s,dead-letter=missing"}, 5, `"missing" does not exist`},
			{[]string{"consume", "work", "--group", "g", "--exec", "cat", "--on-fail", "retry=1s,stop", "--serve", serve}, 2, "--serve"},
			{[]string{"consume", "work", "nope", "--group", "g", "--exec", "cat", "--on-fail", "retry=1s,stop"}, 5, `"nope" does not exist`},
		}, left)
	})

	t.Run("jetstream", func(t *testing.T) {
		srv, _, stream := natsStream(t, "JOBS", []string{"jobs.>"}, "jobs.a", 1)
		left := func() []string {
			if _, err := stream.Consumer(context.Background(), "worker"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
				if err := stream.DeleteConsumer(context.Background(), "worker"); err != nil {
					t.Fatal(err)
				}
				return []string{"consumer worker"}
			}
			return nil
		}
		refuse(t, srv.URL, []refusedRun{
			{[]string{"consume", "JOBS", "--consumer", "worker", "--exec", "cat", "--on-fail", "retry=1s,dead-letter=dlq.missing"}, 5, "dlq.missing"},
			{[]string{"consume", "JOBS", "--consumer", "worker", "--exec", "cat", "--on-fail", "retry=1s,stop", "--serve", serve}, 2, "--serve"},
		}, left)
	})
}
