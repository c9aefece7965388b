package cmd_test

// Issue 15's RabbitMQ faults that need a node of their own: a node
// restart, and a consumer_timeout (a node-wide setting on 3.10). Each
// scenario starts one node and reuses it across its runs.

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/consume"
	"github.com/mqctl/mqctl/internal/reliability"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// nodeChannel opens a channel of the test's own on node (a new one after
// each restart, as a restart closes the old) and declares queue durable.
func nodeChannel(t *testing.T, node *sandbox.RabbitMQ, queue string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.DialConfig(node.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return ch
}

// restartNode stops node and starts it again on its ports and data.
func restartNode(t *testing.T, node *sandbox.RabbitMQ) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := node.Restart(ctx); err != nil {
		t.Fatal(err)
	}
}

// The RabbitMQ node is stopped and started again (same ports, same data)
// mid-produce and mid-consume: nothing is lost from the durable queue.
func TestReliabilityRabbitMQRestart(t *testing.T) {
	reliability.FullOnly(t, "two nodes of their own, each restarted (about 40 s); make test covers reconnecting through a cut connection (rabbitmq TestConsumeSurvivesOutage, TestReliabilityRabbitMQConnectionsClosed), not a restarted node's durable data")
	runs := reliability.Runs(t)
	t.Run("produce", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "RabbitMQ node restarted mid-`produce` (persistent, durable queue)")
		const n = 15000
		node := testenv.OwnRabbitMQ(t, sandbox.RabbitMQOptions{})
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + node.AMQPURL}
		dir := t.TempDir()
		for run := range runs {
			queue := fmt.Sprintf("rr%d", run)
			nodeChannel(t, node, queue)
			in, lines := inputLines(t, queue, n)
			fo := filepath.Join(dir, queue+".failed.jsonl")
			args := []string{"produce", "--queue", queue, "--rate", "2000", "--file", in, "--failed-out", fo}
			cmd := c.command(context.Background(), args...)
			// produce ends (exit 3) while the node is down, so being alive
			// after the restart says nothing; and the stop takes effect a
			// second or more after it began, so neither does being alive
			// before it. A run the restart hit fails messages.
			code, _ := runWithFault(t, cmd, "", between(200*time.Millisecond, 1500*time.Millisecond), func() {
				restartNode(t, node)
			})
			if code != 0 {
				s.Count("restarted mid-run")
			}
			if note := recoverProduce(t, c, code, fo, args[:len(args)-2]...); note != "" {
				s.Count(note)
			}
			record(t, s, lines, drainAMQP(t, nodeChannel(t, node, queue), queue))
		}
		s.Note("%d lines per run at --rate 2000, the node restarted (rabbitmqctl stop, then start on the same data directory) after 0.2-1.5 s", n)
	})
	t.Run("consume", func(t *testing.T) {
		t.Parallel()
		s := reliability.Start(t, "RabbitMQ node restarted mid-`consume` (manual ack)")
		const n = 20000
		node := testenv.OwnRabbitMQ(t, sandbox.RabbitMQOptions{})
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + node.AMQPURL}
		dir := t.TempDir()
		for run := range runs {
			queue := fmt.Sprintf("rc%d", run)
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("%s-%d", queue, i)
			}
			publishConfirmed(t, nodeChannel(t, node, queue), queue, want)
			first, second := filepath.Join(dir, queue+"-1.jsonl"), filepath.Join(dir, queue+"-2.jsonl")
			// The node is down for some seconds: the first run waits 20 s
			// for messages, so it rides the restart, and ends when it had
			// as many deliveries as the queue held (redeliveries count, so
			// the second run may find some left). --prefetch 1 slows it
			// down (one message in flight), so the restart, 0-300 ms after
			// the first output, lands mid-run.
			cmd := c.command(context.Background(), "consume", queue, "--until-end", "--idle-timeout", "20s", "--prefetch", "1", "-o", "jsonl")
			// A consumer still running when the node is back rode the
			// restart: one that ended before the stop took effect (the
			// stop itself takes a second to begin) has exited by then.
			code, mid := runWithFaults(t, cmd, first, fileHasData(first), []time.Duration{between(0, 300*time.Millisecond)}, func() {
				restartNode(t, node)
			})
			if mid > 0 {
				s.Count("restarted mid-run")
			}
			if code != 0 {
				s.Count(fmt.Sprintf("first run exit %d", code))
			}
			if got := len(jsonlValues(t, first)); got < n {
				s.Count("first run stopped before the end")
			}
			if code, _ := runWithFault(t, c.command(context.Background(), "consume", queue, "--until-end", "-o", "jsonl"), second, 0, nil); code != 0 {
				t.Fatalf("second run: exit %d", code)
			}
			record(t, s, want, jsonlValues(t, first, second))
		}
		s.Note("%d persistent messages per run, the node restarted 0-0.3 s after the first output; first run --until-end --idle-timeout 20s --prefetch 1, second --until-end", n)
	})
}

// givenBack finds the summary's count of deliveries given back.
var givenBack = regexp.MustCompile(`, given back ([0-9]+)`)

// oneSettleError finds a summary that counts one settle error.
var oneSettleError = regexp.MustCompile(`, settle errors 1\b`)

// consumer_timeout fires on `consume --exec` whose handler is slower than
// it: the broker closes the channel (PRECONDITION_FAILED) and requeues
// what was unacked. mqctl must say so in one clear line, subscribe again
// and handle every message; nothing is lost. The deliveries fetched
// behind the slow handler are given back unhandled (the broker has them
// again), so only the slow message, whose ack was lost, is handled twice,
// and the run exits 3 for that lost ack.
func TestReliabilityRabbitMQConsumerTimeout(t *testing.T) {
	// Mostly waiting (the node's start, the slow handler, the idle
	// timeout) on a node no other test uses.
	t.Parallel()
	runs := reliability.Runs(t)
	s := reliability.Start(t, "RabbitMQ consumer_timeout fires on a slow `consume --exec` handler")
	const n = 20
	// RabbitMQ 3.10 has the timeout only node-wide, and a channel checks
	// it once per tick (60 s by default): a 1 s tick makes it fire about
	// 5-6 s after the delivery.
	node := testenv.OwnRabbitMQ(t, sandbox.RabbitMQOptions{
		Config:         []string{"consumer_timeout = 5000"},
		AdvancedConfig: "[{rabbit, [{channel_tick_interval, 1000}]}].\n",
	})
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + node.AMQPURL}
	dir := t.TempDir()
	for run := range runs {
		queue := fmt.Sprintf("ct%d", run)
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("%s-%d", queue, i)
		}
		ch := nodeChannel(t, node, queue)
		publishConfirmed(t, ch, queue, want)
		handled := filepath.Join(dir, queue+".handled")
		slowDone := filepath.Join(dir, queue+".slow")
		// The first message's handler takes 8 s the first time, longer
		// than the timeout; every other run of a handler is quick.
		handler := fmt.Sprintf(`v=$(cat); if [ "$v" = '%s' ] && [ ! -e '%s' ]; then : > '%s'; sleep 8; fi; printf '%%s\n' "$v" >> '%s'`,
			want[0], slowDone, slowDone, handled)
		r := c.run("consume", queue, "--exec", handler, "--idle-timeout", "5s")
		t.Logf("exit %d, stderr:\n%s", r.code, r.stderr)
		s.Count(fmt.Sprintf("exit %d", r.code))
		// One line says what happened, naming the setting and its value.
		if got := strings.Count(r.stderr, "longer than the node's consumer_timeout (5000 ms)"); got != 1 {
			t.Errorf("run %d: %d lines name the consumer timeout, want 1; stderr:\n%s", run, got, r.stderr)
		}
		if left := queueDepth(t, ch, queue); left != 0 {
			t.Errorf("run %d: %d messages left in the queue", run, left)
		}
		got := handledLines(t, handled)
		// A message other than the slow one handled twice had a handler
		// started for it from the closed channel.
		for _, v := range want[1:] {
			if c := strings.Count(" "+strings.Join(got, " ")+" ", " "+v+" "); c != 1 {
				t.Errorf("run %d: %s handled %d times, want once: only the slow message's ack is lost with the channel", run, v, c)
			}
		}
		if !strings.Contains(r.stderr, ", given back ") || !strings.Contains(r.stderr, "prefetched deliveries were given back unhandled") {
			t.Errorf("run %d: stderr does not tell the deliveries given back with the channel:\n%s", run, r.stderr)
		}
		// The slow handler finished after the close: its ack, and only
		// that one, is lost.
		if r.code != 3 || !oneSettleError.MatchString(r.stderr) {
			t.Errorf("run %d: exit %d, want 3 for the one lost ack; stderr:\n%s", run, r.code, r.stderr)
		}
		if m := givenBack.FindStringSubmatch(r.stderr); m != nil {
			s.Count("given back " + m[1])
		}
		record(t, s, want, got)
	}
	s.Note("consumer_timeout = 5000 ms, channel_tick_interval 1 s; %d messages per run, the first one's handler sleeps 8 s once; duplicated = handled twice", n)
}

// A `consume --exec` handler that is slower than consumer_timeout every
// time: each run's ack is lost with the channel the broker closes, and
// the message comes back first in the queue, so mqctl used to run the
// handler on it again and again, forever, while the messages behind it
// waited (c.run's 60 s guard fails the test then). mqctl must stop once
// the broker took the same message back consume.MaxAckTimeouts times,
// with exit 3 and one line naming the queue, the timeout and what to
// raise, and leave every message in the queue: none acked, and with
// --on-fail reject none rejected either, as that verdict could not reach
// the broker. With --on-fail dead-letter=DEST or retry=DELAY no copy may
// land in DEST or the delay queue either: the broker has the message back
// before the handler ends, and a copy beside it would be a duplicate.
func TestReliabilityRabbitMQConsumerTimeoutEveryTime(t *testing.T) {
	t.Parallel()
	runs := reliability.Runs(t)
	s := reliability.Start(t, "RabbitMQ consumer_timeout fires on every run of a slow `consume --exec` handler")
	const n = 5
	// As in TestReliabilityRabbitMQConsumerTimeout: a node-wide timeout
	// on 3.10, checked every second, so it fires 2-3 s after a delivery;
	// the handler's 6 s leave a margin of 3 s.
	node := testenv.OwnRabbitMQ(t, sandbox.RabbitMQOptions{
		Config:         []string{"consumer_timeout = 2000"},
		AdvancedConfig: "[{rabbit, [{channel_tick_interval, 1000}]}].\n",
	})
	for _, tc := range []struct {
		name string
		exit int
		// onFail is the --on-fail verdict, DLQ standing for the queue's
		// DLX queue (which must stay empty).
		onFail string
		// quorum: a quorum queue, which stamps each redelivery with a
		// new x-delivery-count header.
		quorum bool
	}{
		{name: "succeeds", exit: 0},
		{name: "fails", exit: 1, onFail: "reject"},
		{name: "fails with dead-letter", exit: 1, onFail: "dead-letter=DLQ"},
		{name: "fails with retry", exit: 1, onFail: "retry=1h"},
		{name: "succeeds on a quorum queue", exit: 0, quorum: true},
	} {
		t.Run("handler "+tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + node.AMQPURL}
			dir := t.TempDir()
			for run := range runs {
				queue := fmt.Sprintf("cte-%s%d", strings.ReplaceAll(tc.name, " ", "-"), run)
				dlq := queue + ".dlq"
				ch := nodeChannel(t, node, dlq)
				args := amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
				if tc.quorum {
					args["x-queue-type"] = "quorum"
				}
				if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
					t.Fatal(err)
				}
				want := make([]string, n)
				for i := range want {
					want[i] = fmt.Sprintf("%s-%d", queue, i)
				}
				publishConfirmed(t, ch, queue, want)
				handled := filepath.Join(dir, queue+".handled")
				handler := fmt.Sprintf(`v=$(cat); printf '%%s\n' "$v" >> '%s'; sleep 6; exit %d`, handled, tc.exit)
				cmdArgs := []string{"consume", queue, "--exec", handler, "--idle-timeout", "5s"}
				if tc.onFail != "" {
					cmdArgs = append(cmdArgs, "--on-fail", strings.ReplaceAll(tc.onFail, "DLQ", dlq))
				}
				r := c.run(cmdArgs...)
				t.Logf("exit %d, stderr:\n%s", r.code, r.stderr)
				s.Count(fmt.Sprintf("exit %d", r.code))
				if r.code != 3 {
					t.Errorf("run %d: exit %d, want 3", run, r.code)
				}
				var stops []string
				for line := range strings.Lines(r.stderr) {
					if strings.HasPrefix(line, "mqctl: stopped: ") {
						stops = append(stops, line)
					}
				}
				if len(stops) != 1 {
					t.Errorf("run %d: %d stop lines, want 1; stderr:\n%s", run, len(stops), r.stderr)
				} else {
					for _, part := range []string{"queue " + queue + " ", "(consumer_timeout = 2000 ms)",
						fmt.Sprintf("on the same message %d times", consume.MaxAckTimeouts), "not acked", "raise the node's consumer_timeout", "make the handler faster"} {
						if !strings.Contains(stops[0], part) {
							t.Errorf("run %d: the stop line lacks %q: %s", run, part, stops[0])
						}
					}
				}
				// The first message, again and again, and nothing behind it.
				got := handledLines(t, handled)
				if len(got) != consume.MaxAckTimeouts || strings.Count(strings.Join(got, " "), want[0]) != len(got) {
					t.Errorf("run %d: the handler ran for %v, want %s %d times", run, got, want[0], consume.MaxAckTimeouts)
				}
				s.Count(fmt.Sprintf("handler runs %d", len(got)))
				// Nothing acked, nothing rejected: all of it is back once
				// the broker let go of mqctl's consumer.
				waitConsumersGone(t, ch, queue)
				if d := queueDepth(t, ch, dlq); d != 0 {
					t.Errorf("run %d: %d messages reached the DLX queue", run, d)
				}
				if strings.HasPrefix(tc.onFail, "retry=") {
					if d := queueDepth(t, ch, queue+".retry.1h"); d != 0 {
						t.Errorf("run %d: %d copies were parked in the delay queue", run, d)
					}
				}
				left := drainAMQP(t, ch, queue)
				if len(left) != n {
					t.Errorf("run %d: %d messages left in the queue, want all %d", run, len(left), n)
				}
				record(t, s, want, left)
			}
		})
	}
	s.Note("consumer_timeout = 2000 ms, channel_tick_interval 1 s; %d messages per run, every handler run sleeps 6 s, then exits 0 (on a classic queue and on a quorum queue), or 1 with --on-fail reject, dead-letter or retry=1h; lost and duplicated are counted in the queue after the run", n)
}
