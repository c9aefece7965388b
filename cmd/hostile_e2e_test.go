package cmd

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// hostileData would act on a terminal if shown raw.
var hostileData = []string{
	"\x1b[2Jcleared", "\x1b[8mconcealed", "\x1b[30;40mdark\x1b[0m", "\x1b]52;c;cm0gLXJmIC8K\x07",
	"\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "\x1bP1$qm\x1b\\", "c1 \u009b2J", "\u009d0;title\u009c",
	"abc\u202edcba", "\u2066iso\u2069\u202a\u202b\u202c\u202d", "tab\tnew\nline\rcr", "bad \xff\xfe",
	strings.Repeat("\x1b[41m", 2000),
}

// rawControl returns what in s would act on a terminal: ESC, another C0
// control but newline and tab, DEL, a C1 control or a bidi control.
func rawControl(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return r, true
		}
	}
	return 0, false
}

// Hostile dead letters published by franz-go to a real (kfake) broker
// reach no terminal raw through any command that shows them, on stdout or
// stderr.
func TestHostileDataNeverReachesTheTerminalRaw(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, "orders", "orders.DLT"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i, h := range hostileData {
		p := binary.BigEndian.AppendUint32(nil, 0)
		o := binary.BigEndian.AppendUint64(nil, uint64(i))
		recs = append(recs, &kgo.Record{Topic: "orders.DLT", Key: []byte(h), Value: []byte(h), Headers: []kgo.RecordHeader{
			{Key: "kafka_dlt-original-topic", Value: []byte("orders")},
			{Key: "kafka_dlt-original-partition", Value: p},
			{Key: "kafka_dlt-original-offset", Value: o},
			{Key: "kafka_dlt-exception-message", Value: []byte(h)},
			{Key: h, Value: []byte(h)},
		}})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A consumer group whose commit makes lag rows.
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "billing\x1b[2J\u202e", kadm.OffsetsFromRecords(*recs[0])); err != nil {
		t.Fatal(err)
	}

	url := k.URL
	cases := []struct {
		name string
		args []string
	}{
		{"dlq peek", []string{"dlq", "peek", "orders.DLT", "--url", url, "-n", "100"}},
		{"dlq peek wide", []string{"dlq", "peek", "orders.DLT", "--url", url, "-n", "100", "-o", "wide"}},
		{"dlq peek yaml", []string{"dlq", "peek", "orders.DLT", "--url", url, "-n", "100", "-o", "yaml"}},
		{"dlq peek json", []string{"dlq", "peek", "orders.DLT", "--url", url, "-n", "100", "-o", "json"}},
		{"dlq stats", []string{"dlq", "stats", "orders.DLT", "--url", url}},
		{"dlq ls", []string{"dlq", "ls", "--url", url}},
		{"dlq replay dry-run", []string{"dlq", "replay", "orders.DLT", "--url", url, "--dry-run"}},
		{"dlq purge dry-run", []string{"dlq", "purge", "orders.DLT", "--url", url, "--dry-run"}},
		{"consume raw", []string{"consume", "orders.DLT", "--url", url, "--ack", "none", "--from", "beginning", "-n", "13"}},
		{"consume template", []string{"consume", "orders.DLT", "--url", url, "--ack", "none", "--from", "beginning", "-n", "13",
			"-o", `template={{.Key}} {{.Value}} {{.Header "kafka_dlt-exception-message"}} {{range .Headers}}{{.Key}}={{printf "%s" .Value}} {{end}}`}},
		{"consume jsonl", []string{"consume", "orders.DLT", "--url", url, "--ack", "none", "--from", "beginning", "-n", "13", "-o", "jsonl"}},
		{"lag", []string{"lag", "--url", url}},
		{"lag prometheus", []string{"lag", "--url", url, "-o", "prometheus"}},
		{"error quoting a name", []string{"context", "use", "nope\x1b[2J\u202e\u009b"}},
		{"error quoting a destination", []string{"dlq", "peek", "missing\x1b]52;c;eA==\x07", "--url", url}},
	}
	raw := 0
	for _, tc := range cases {
		for _, tty := range []bool{true, false} {
			r := runInProcess(t, tty, nil, tc.args...)
			if tty {
				if c, bad := rawControl(r.stdout); bad {
					raw++
					t.Errorf("%s: %U reached the terminal raw on stdout:\n%q", tc.name, c, r.stdout)
				}
			}
			if c, bad := rawControl(r.stderr); bad {
				raw++
				t.Errorf("%s (tty %v): %U reached stderr raw:\n%q", tc.name, tty, c, r.stderr)
			}
		}
	}
	t.Logf("%d of %d outputs held a raw control", raw, 3*len(cases))
	// In a pipe, raw output is the bytes unchanged.
	r := runInProcess(t, false, nil, "consume", "orders.DLT", "--url", url, "--ack", "none", "--from", "beginning", "-n", "13")
	if r.code != 0 || !strings.Contains(r.stdout, hostileData[0]+"\n") || !strings.Contains(r.stdout, "bad \xff\xfe\n") {
		t.Errorf("consume -o raw in a pipe altered the bytes: %+v", r)
	}
}
