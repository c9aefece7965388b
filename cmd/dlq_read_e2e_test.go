package cmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// readings is what ls, peek and stats say about the dead letters of one
// source, as counts by reason and by original destination.
type readings struct {
	peekReasons, peekDests, statsReasons, statsDests, lsReasons map[string]int
	peekTable, statsTable                                       string
}

type keyCount struct {
	Key   string
	Count int
}

func counts(kcs []keyCount) map[string]int {
	m := map[string]int{}
	for _, kc := range kcs {
		m[kc.Key] += kc.Count
	}
	return m
}

// read runs dlq ls, peek and stats on source with args (the context) and
// extra ls flags.
func readDLQ(t *testing.T, c *cli, source string, lsArgs []string, args ...string) readings {
	t.Helper()
	var rd readings
	r := c.run(append([]string{"dlq", "peek", source, "-n", "100", "-o", "json"}, args...)...)
	var items []struct {
		Origin struct {
			Reason, Destination, Stream string
		}
		Gone bool `json:"original_gone"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &items); r.code != 0 || err != nil {
		t.Fatalf("peek: %v %+v", err, r)
	}
	rd.peekReasons, rd.peekDests = map[string]int{}, map[string]int{}
	for _, it := range items {
		reason, dest := it.Origin.Reason, it.Origin.Destination
		if reason == "" {
			reason = "(unknown)"
		}
		if dest == "" {
			dest = it.Origin.Stream
		}
		rd.peekReasons[reason]++
		rd.peekDests[dest]++
	}
	r = c.run(append([]string{"dlq", "stats", source, "-o", "json"}, args...)...)
	var st struct{ Reasons, Destinations []keyCount }
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		t.Fatalf("stats: %v %+v", err, r)
	}
	rd.statsReasons, rd.statsDests = counts(st.Reasons), counts(st.Destinations)
	r = c.run(append(append([]string{"dlq", "ls", "-o", "json"}, lsArgs...), args...)...)
	var rows []struct {
		Name       string
		TopReasons []keyCount `json:"top_reasons"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); r.code != 0 || err != nil {
		t.Fatalf("ls: %v %+v", err, r)
	}
	for _, row := range rows {
		if row.Name == source {
			rd.lsReasons = counts(row.TopReasons)
		}
	}
	rd.peekTable = c.run(append([]string{"dlq", "peek", source, "-n", "100"}, args...)...).stdout
	rd.statsTable = c.run(append([]string{"dlq", "stats", source}, args...)...).stdout
	return rd
}

// agree checks that ls, peek and stats read the same: the same reasons,
// whole, with the same counts, and the same original destinations; and
// that the tables show each reason with the same words (peek's column
// clips them earlier).
func (rd readings) agree(t *testing.T, wantReasons, wantDests map[string]int) {
	t.Helper()
	for what, got := range map[string]map[string]int{"peek": rd.peekReasons, "stats": rd.statsReasons, "ls": rd.lsReasons} {
		if !maps.Equal(got, wantReasons) {
			t.Errorf("%s reasons %v, want %v", what, got, wantReasons)
		}
	}
	for what, got := range map[string]map[string]int{"peek": rd.peekDests, "stats": rd.statsDests} {
		if !maps.Equal(got, wantDests) {
			t.Errorf("%s original destinations %v, want %v", what, got, wantDests)
		}
	}
	for _, reason := range slices.Sorted(maps.Keys(wantReasons)) {
		line := strings.Join(strings.Fields(strings.TrimPrefix(reason, "Listener failed; nested exception is ")), " ")
		short := line
		if len([]rune(short)) > 49 {
			short = string([]rune(short)[:49])
		}
		if !strings.Contains(rd.peekTable, short) {
			t.Errorf("the peek table does not show %q:\n%s", short, rd.peekTable)
		}
		if len([]rune(line)) <= 119 && !strings.Contains(rd.statsTable, "\n"+line+"\t") {
			t.Errorf("the stats table does not show %q:\n%s", line, rd.statsTable)
		}
	}
}

// A reason longer than any table column, over two lines.
var longReason = "Listener failed; nested exception is org.springframework.messaging.converter.MessageConversionException: " +
	"Cannot convert from [[B] to [Order] for GenericMessage [payload=byte[57], headers={kafka_offset=7}]\n\tat com.example.Orders.handle(Orders.java:42)"

// The same dead letters read the same in ls, peek and stats, on each
// broker, with data like the sandbox's: RabbitMQ x-death (ls reads
// reasons only with --sample, and says so), Kafka Spring headers with a
// long two-line exception message (JSON shows it whole), JetStream
// advisories followed to their messages, one of them gone.
func TestDLQOneReadingEverywhere(t *testing.T) {
	t.Run("rabbitmq", func(t *testing.T) {
		u, ch := rabbitQueue(t, "orders.created", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"})
		if _, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		deadLetterAMQP(t, ch, "orders.created", "o-1", "o-2", "o-3", "o-4", "o-5")
		// One expired on a queue with a TTL.
		if _, err := ch.QueueDeclare("orders.slow", true, false, false, false, amqp.Table{
			"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq", "x-message-ttl": int32(1)}); err != nil {
			t.Fatal(err)
		}
		if err := ch.PublishWithContext(context.Background(), "", "orders.slow", false, false, amqp.Publishing{Body: []byte("late")}); err != nil {
			t.Fatal(err)
		}
		waitDepth(t, ch, "orders.dlq", 6)
		c := newCLI(t)
		// ls reads the management API; the test node's is not on 15672.
		if r := c.run("context", "add", "r", "--url", u, "--management-url", testenv.RabbitMQ(t).APIURL, "--use"); r.code != 0 {
			t.Fatalf("context add: %+v", r)
		}
		r := c.run("dlq", "ls")
		if r.code != 0 || !strings.Contains(r.stdout, "(not read: --sample N)") || !strings.Contains(r.stderr, "--sample N reads") {
			t.Errorf("ls without --sample on RabbitMQ: %+v", r)
		}
		rd := readDLQ(t, c, "orders.dlq", []string{"--sample", "100"})
		rd.agree(t, map[string]int{"rejected": 5, "expired": 1}, map[string]int{"orders.created": 5, "orders.slow": 1})
	})

	t.Run("kafka", func(t *testing.T) {
		k, cl := kafkaTopic(t, "orders.DLT", 1, nil)
		reasons := []string{"Listener failed; nested exception is java.lang.IllegalStateException: SKU not found", longReason}
		var recs []*kgo.Record
		for i := range 6 {
			recs = append(recs, &kgo.Record{Topic: "orders.DLT", Key: []byte("customer-" + strconv.Itoa(i)),
				Value: []byte(`{"order_id":` + strconv.Itoa(1000+i) + `}`), Headers: springHeaders("orders", int32(i%4), int64(i*3), reasons[i%2])})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + k.URL}
		rd := readDLQ(t, c, "orders.DLT", nil)
		rd.agree(t, map[string]int{reasons[0]: 3, longReason: 3}, map[string]int{"orders": 6})
	})

	t.Run("jetstream", func(t *testing.T) {
		e := newJSEnv(t)
		orders := e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
		e.stream(jetstream.StreamConfig{Name: "DEAD_LETTERS", Subjects: []string{
			"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>"}})
		var term, nak []string
		for i := 1; i <= 10; i++ {
			v := fmt.Sprintf(`{"order_id":%d}`, i)
			e.publish("orders.created", v, "Nats-Msg-Id", fmt.Sprintf("order-%d", i))
			switch {
			case i%5 == 0:
				term = append(term, v)
			case i%7 == 0:
				nak = append(nak, v)
			}
		}
		e.fail("processor", 1, term, nak)
		e.waitDepth("DEAD_LETTERS", 3)
		// Limits removed the message of one advisory.
		if err := orders.DeleteMsg(context.Background(), 7); err != nil {
			t.Fatal(err)
		}
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + e.url}
		rd := readDLQ(t, c, "DEAD_LETTERS", nil)
		rd.agree(t, map[string]int{"terminated: bad order": 2, "max_deliveries": 1}, map[string]int{"orders.created": 2, "ORDERS": 1})
	})
}
