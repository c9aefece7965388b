package cmd_test

import (
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/testenv"
)

// Every dlq flag that means nothing on the context's broker, or a number
// the broker cannot take, is refused with exit 2 and one line naming the
// flag, before anything is read; flags that apply everywhere are checked
// before connecting.
func TestDLQFlagsRefused(t *testing.T) {
	k, _ := kafkaTopic(t, "orders.DLT", 1, nil)
	e := newJSEnv(t)
	u, _ := rabbitQueue(t, "orders.dlq", nil)
	c := newCLI(t)
	for name, url := range map[string]string{"kafka": k.URL, "nats": e.url} {
		if r := c.run("context", "add", name, "--url", url); r.code != 0 {
			t.Fatalf("context add: %+v", r)
		}
	}
	if r := c.run("context", "add", "rabbitmq", "--url", u, "--management-url", testenv.RabbitMQ(t).APIURL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	everywhere := []string{"kafka", "nats", "rabbitmq"}
	tests := []struct {
		on      []string
		args    []string
		mention string
	}{
		// Broker-specific flags.
		{[]string{"kafka", "nats"}, []string{"ls", "--scan-heads"}, "--scan-heads applies to rabbitmq only"},
		{[]string{"kafka", "nats"}, []string{"stats", "DLQ", "--sample", "5"}, "--sample applies to rabbitmq only"},
		{[]string{"nats", "rabbitmq"}, []string{"replay", "DLQ", "--group", "g", "--dry-run"}, "--group applies to kafka only"},
		{[]string{"nats", "rabbitmq"}, []string{"move", "DLQ", "--to", "x", "--group", "g", "--yes"}, "--group applies to kafka only"},
		{everywhere, []string{"purge", "DLQ", "--group", "g", "--yes"}, "unknown flag: --group"},
		// Numbers RabbitMQ cannot hold unacked (basic.qos is 16 bits),
		// named by the flag the user gave.
		{[]string{"rabbitmq"}, []string{"ls", "--sample", "70000"}, "--sample 70000"},
		{[]string{"rabbitmq"}, []string{"peek", "DLQ", "-n", "70000"}, "--count 70000"},
		{[]string{"rabbitmq"}, []string{"replay", "DLQ", "--in-flight", "70000", "--dry-run"}, "--in-flight 70000"},
		{[]string{"rabbitmq"}, []string{"purge", "DLQ", "--in-flight", "70000", "--yes"}, "--in-flight 70000"},
		// Checked before connecting, on every broker.
		{everywhere, []string{"stats", "DLQ", "--sample", "70000"}, "--sample 70000: want 1 to 65535"},
		{everywhere, []string{"stats", "DLQ", "--sample", "0"}, "--sample 0"},
		{everywhere, []string{"ls", "--sample", "-1"}, "--sample -1"},
		{everywhere, []string{"ls", "--warn", "5"}, "--warn goes with --check"},
		{everywhere, []string{"stats", "DLQ", "--crit", "5"}, "--crit goes with --check"},
		{everywhere, []string{"peek", "DLQ", "-n", "0"}, "--count 0"},
		{everywhere, []string{"replay", "DLQ", "--rate", "NaN", "--dry-run"}, "--rate NaN"},
		{everywhere, []string{"replay", "DLQ", "--limit", "-1", "--dry-run"}, "--limit -1"},
		{everywhere, []string{"replay", "DLQ", "--in-flight", "0", "--dry-run"}, "--in-flight 0"},
		{everywhere, []string{"replay", "DLQ", "--max-replays", "-1", "--yes"}, "--max-replays -1"},
		{everywhere, []string{"replay", "DLQ", "--older-than", "1h", "--newer-than", "10m", "--dry-run"}, "selects nothing"},
		{everywhere, []string{"purge", "DLQ", "--older-than", "-1m", "--yes"}, "positive duration"},
	}
	for _, tc := range tests {
		for _, b := range tc.on {
			t.Run(b+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				expectError(t, c.run(append([]string{"-c", b, "dlq"}, tc.args...)...), 2, tc.mention)
			})
		}
	}
}
