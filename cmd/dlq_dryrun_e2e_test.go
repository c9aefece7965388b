package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dryRunList parses what a dry run printed: the dead letters it says it
// would forward with verb ("replay", "purge"), and checks its summary
// counts exactly those.
func dryRunList(t *testing.T, r result, verb, past string) []string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("dry run: %+v", r)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimRight(r.stdout, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, verb+" ")
		if !ok {
			continue
		}
		where, _, _ := strings.Cut(strings.TrimSpace(rest), " from ")
		out = append(out, where)
	}
	if want := fmt.Sprintf("would be %s %d,", past, len(out)); !strings.Contains(r.stderr, want) {
		t.Errorf("the dry run listed %d to %s, and its summary does not say %q: %s", len(out), verb, want, r.stderr)
	}
	slices.Sort(out)
	return out
}

func sameSet(t *testing.T, what string, dry, real []string) {
	t.Helper()
	slices.Sort(real)
	if !slices.Equal(dry, real) {
		t.Errorf("%s: the dry run listed %v, the real run replayed %v", what, dry, real)
	}
}

// Kafka: a dry run lists what the following real run replays: it starts
// at the group's commits (after an earlier partial run), and applies the
// same snapshot, filters and limit.
func TestDLQDryRunIsTheRealRunKafka(t *testing.T) {
	k, cl := kafkaTopic(t, "orders.DLT", 2, nil)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	where := map[string]string{} // value -> orders.DLT[p]@o
	var recs []*kgo.Record
	for i := range 12 {
		reason := "price missing"
		if i%3 == 0 {
			reason = "Cannot convert from [[B] to [Order]"
		}
		recs = append(recs, &kgo.Record{Topic: "orders.DLT", Partition: int32(i % 2), Key: []byte("k" + strconv.Itoa(i)),
			Value: []byte("order-" + strconv.Itoa(i)), Headers: springHeaders("orders", int32(i%2), int64(i), reason)})
	}
	single, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	res := single.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		where[string(r.Record.Value)] = fmt.Sprintf("orders.DLT[%d]@%d", r.Record.Partition, r.Record.Offset)
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + k.URL}
	replayed := 0
	// replayedSince returns the DLT positions of the records the real
	// runs replayed since the last call, read from the original topic.
	replayedSince := func(n int) []string {
		t.Helper()
		got := readTopic(t, k.Addrs(), "orders", replayed+n)
		var out []string
		for _, rec := range got[replayed:] {
			out = append(out, where[string(rec.Value)])
		}
		replayed += n
		return out
	}

	// An earlier, partial real run moves the group past some records.
	r := c.run("dlq", "replay", "orders.DLT", "--limit", "3", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 3,") {
		t.Fatalf("partial replay: %+v", r)
	}
	first := replayedSince(3)

	for _, args := range [][]string{
		{"--reason", "price"},
		{"--reason", "price", "--limit", "2"},
		{},
	} {
		dry := dryRunList(t, c.run(append([]string{"dlq", "replay", "orders.DLT", "--dry-run"}, args...)...), "replay", "replayed")
		for _, w := range first {
			if slices.Contains(dry, w) {
				t.Errorf("%v: the dry run lists %s, which the earlier run replayed and committed", args, w)
			}
		}
		r = c.run(append([]string{"dlq", "replay", "orders.DLT", "--yes"}, args...)...)
		if r.code != 0 {
			t.Fatalf("replay %v: %+v", args, r)
		}
		sameSet(t, fmt.Sprint(args), dry, replayedSince(len(dry)))
	}
	r = c.run("dlq", "replay", "orders.DLT", "--dry-run")
	if dry := dryRunList(t, r, "replay", "replayed"); len(dry) != 0 {
		t.Errorf("after the real runs a dry run still lists %v", dry)
	}
	// A Kafka purge reads from the start, without the group: so does its dry run.
	if dry := dryRunList(t, c.run("dlq", "purge", "orders.DLT", "--dry-run"), "purge", "purged"); len(dry) != 12 {
		t.Errorf("purge dry run lists %d, want all 12", len(dry))
	}
}

// RabbitMQ: a dry run reads every dead letter the real run would (and
// returns them, marked redelivered, which it says before and after), in
// the order the real run reads them after an earlier partial run rotated
// the ones it passed over.
func TestDLQDryRunIsTheRealRunRabbitMQ(t *testing.T) {
	u, ch := rabbitQueue(t, "orders", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"})
	if _, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for i := range 12 {
		vals = append(vals, []string{"keep", "drop", "keep"}[i%3]+"-"+strconv.Itoa(i))
	}
	deadLetterAMQP(t, ch, "orders", vals...)
	waitDepth(t, ch, "orders.dlq", 12)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + u}
	replayedSince := func() []string {
		t.Helper()
		var out []string
		for {
			d, ok, err := ch.Get("orders", true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return out
			}
			out = append(out, "queue orders.dlq message "+d.MessageId)
		}
	}
	r := c.run("dlq", "replay", "orders.dlq", "--grep", "^keep", "--limit", "2", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "replayed 2,") {
		t.Fatalf("partial replay: %+v", r)
	}
	waitDepth(t, ch, "orders", 2)
	replayedSince()
	for _, args := range [][]string{{"--grep", "^keep", "--limit", "3"}, {"--grep", "-1", "--in-flight", "2"}, {}} {
		r := c.run(append([]string{"dlq", "replay", "orders.dlq", "--dry-run"}, args...)...)
		dry := dryRunList(t, r, "replay", "replayed")
		warn := strings.Index(r.stderr, "marks them redelivered")
		read := regexp.MustCompile(`read (\d+),`).FindStringSubmatch(r.stderr)
		if warn < 0 || warn > strings.Index(r.stderr, "would be replayed") || read == nil ||
			!strings.Contains(r.stderr, fmt.Sprintf("the %s read went back to orders.dlq marked redelivered", read[1])) {
			t.Errorf("%v: the dry run does not say first that it marks messages redelivered, and how many: %s", args, r.stderr)
		}
		r = c.run(append([]string{"dlq", "replay", "orders.dlq", "--yes"}, args...)...)
		if r.code != 0 {
			t.Fatalf("replay %v: %+v", args, r)
		}
		waitDepth(t, ch, "orders", len(dry))
		sameSet(t, fmt.Sprint(args), dry, replayedSince())
	}
	waitDepth(t, ch, "orders.dlq", 0)
}

// JetStream: a dry run of an advisory stream lists the advisories the real
// run replays, filters applied to the messages they point to.
func TestDLQDryRunIsTheRealRunJetStream(t *testing.T) {
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	e.stream(jetstream.StreamConfig{Name: "DEAD", Subjects: []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.>"}})
	var term, nak []string
	for i := range 8 {
		v := fmt.Sprintf(`{"order":%d,"region":"%s"}`, i, []string{"eu", "us"}[i%2])
		e.publish("orders.created", v, "Nats-Msg-Id", "order-"+strconv.Itoa(i), "tenant", "eu")
		if i%4 == 0 {
			nak = append(nak, v)
		} else {
			term = append(term, v)
		}
	}
	e.fail("w", 1, term, nak)
	e.waitDepth("DEAD", 8)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + e.url}
	seqs := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range e.all("DEAD") {
			out["DEAD seq "+strconv.FormatUint(m.Sequence, 10)] = true
		}
		return out
	}
	for _, args := range [][]string{{"--grep", `"eu"`, "--limit", "2"}, {"--reason", "max_deliveries"}, {}} {
		dry := dryRunList(t, c.run(append([]string{"dlq", "replay", "DEAD", "--dry-run"}, args...)...), "replay", "replayed")
		before := seqs()
		r := c.run(append([]string{"dlq", "replay", "DEAD", "--yes"}, args...)...)
		if r.code != 0 {
			t.Fatalf("replay %v: %+v", args, r)
		}
		after := seqs()
		var gone []string
		for s := range before {
			if !after[s] {
				gone = append(gone, s)
			}
		}
		sameSet(t, fmt.Sprint(args), dry, gone)
	}
	// The --grep run replayed messages of region eu only.
	for _, m := range e.all("ORDERS")[8:10] {
		var v struct{ Region string }
		if json.Unmarshal(m.Data, &v); v.Region != "eu" || !regexp.MustCompile(`^order-\d:replay:1:DEAD:\d+$`).MatchString(m.Header.Get("Nats-Msg-Id")) {
			t.Errorf("--grep '\"eu\"' replayed %s id %q", m.Data, m.Header.Get("Nats-Msg-Id"))
		}
	}
}
