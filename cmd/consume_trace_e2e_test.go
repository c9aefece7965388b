package cmd_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestTraceContextReachesHandler: a W3C traceparent/tracestate a message
// carries reaches `consume --exec` as TRACEPARENT/TRACESTATE on each
// broker; `produce --traceparent auto` gives each message without one a
// fresh valid traceparent and keeps one given with -H.
func TestTraceContextReachesHandler(t *testing.T) {
	const given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	fresh := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	handler := `printf '%s|%s|%s\n' "$(cat)" "$TRACEPARENT" "$TRACESTATE"`
	for _, b := range []struct {
		name  string
		setup func(t *testing.T, c *cli) (produce, consume []string)
	}{
		{"kafka", func(t *testing.T, c *cli) ([]string, []string) {
			k, _ := kafkaTopic(t, "traced", 1, nil)
			return []string{"produce", "traced", "--url", k.URL}, []string{"consume", "traced", "--url", k.URL}
		}},
		{"rabbitmq", func(t *testing.T, c *cli) ([]string, []string) {
			u, _ := rabbitQueue(t, "traced", nil)
			c.env = []string{"MQCTL_URL=" + u}
			return []string{"produce", "--queue", "traced"}, []string{"consume", "traced"}
		}},
		{"jetstream", func(t *testing.T, c *cli) ([]string, []string) {
			srv, _, _ := natsStream(t, "TRACED", []string{"traced"}, "traced", 0)
			return []string{"produce", "traced", "--url", srv.URL}, []string{"consume", "TRACED", "--url", srv.URL}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			c := newCLI(t)
			produce, consume := b.setup(t, c)
			if r := c.run(append(produce, "-H", "traceparent="+given, "-H", "tracestate=congo=t61rcWkgMzE", "one")...); r.code != 0 {
				t.Fatalf("produce one: %+v", r)
			}
			if r := c.run(append(produce, "--traceparent", "auto", "-H", "traceparent="+given, "kept")...); r.code != 0 {
				t.Fatalf("produce kept: %+v", r)
			}
			if r := c.run(append(produce, "--traceparent", "auto", "two", "three")...); r.code != 0 {
				t.Fatalf("produce auto: %+v", r)
			}
			r := c.run(append(consume, "-n", "4", "--exec", handler)...)
			if r.code != 0 {
				t.Fatalf("consume: %+v", r)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 4 || lines[0] != "one|"+given+"|congo=t61rcWkgMzE" || lines[1] != "kept|"+given+"|" {
				t.Fatalf("handler saw %q", lines)
			}
			two, three := strings.Split(lines[2], "|"), strings.Split(lines[3], "|")
			if two[0] != "two" || three[0] != "three" || !fresh.MatchString(two[1]) || !fresh.MatchString(three[1]) ||
				two[2] != "" || two[1][3:35] == three[1][3:35] || two[1][3:35] == given[3:35] {
				t.Errorf("--traceparent auto: handler saw %q and %q", lines[2], lines[3])
			}
		})
	}
	c := newCLI(t)
	expectError(t, c.run("produce", "x", "--url", "kafka://127.0.0.1:1", "--traceparent", "yes", "v"), 2, "--traceparent")
}

// TestDLQPeekShowsTraceID: a dead letter that carries a traceparent shows
// its trace id in `dlq peek` (a TRACE column, origin.trace_id in JSON);
// a DLQ whose messages carry none gets no TRACE column.
func TestDLQPeekShowsTraceID(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c := newCLI(t)
	k, cl := kafkaTopic(t, "traced.dlq", 1, nil)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "plain.dlq"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"produce", "traced.dlq", "--url", k.URL, "-H", "traceparent=" + parent, "-H", "mq-death-reason=handler failed", "first"},
		{"produce", "traced.dlq", "--url", k.URL, "-H", "mq-death-reason=handler failed", "second"},
		{"produce", "plain.dlq", "--url", k.URL, "-H", "mq-death-reason=handler failed", "third"},
	} {
		if r := c.run(args...); r.code != 0 {
			t.Fatalf("%q: %+v", args, r)
		}
	}
	r := c.run("dlq", "peek", "traced.dlq", "--url", k.URL, "-n", "2", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"`) || strings.Count(r.stdout, "trace_id") != 1 {
		t.Fatalf("peek -o json: want one trace_id: %+v", r)
	}
	r = c.run("dlq", "peek", "traced.dlq", "--url", k.URL, "-n", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "TRACE") || !strings.Contains(r.stdout, "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Fatalf("peek table: want a TRACE column with the id: %+v", r)
	}
	r = c.run("dlq", "peek", "plain.dlq", "--url", k.URL, "-n", "1")
	if r.code != 0 || strings.Contains(r.stdout, "TRACE") || !strings.Contains(r.stdout, "third") {
		t.Fatalf("peek table without traces: want no TRACE column: %+v", r)
	}
}
