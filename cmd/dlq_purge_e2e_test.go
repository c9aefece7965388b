package cmd_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/testenv"
)

// restoreLine is the command purge --export printed to restore the file.
func restoreLine(t *testing.T, r result) string {
	t.Helper()
	_, after, ok := strings.Cut(r.stderr, "this restores them")
	if !ok {
		t.Fatalf("no restore command in %q", r.stderr)
	}
	lines := strings.Split(after, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "  mqctl ") {
		t.Fatalf("restore command not on its own line: %q", r.stderr)
	}
	return strings.TrimSpace(lines[1])
}

// runAsPrinted runs line with /bin/sh, as a user pasting it would, with
// the binary under test as mqctl.
func (c *cli) runAsPrinted(line string) result {
	c.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(cleanEnv(), "MQCTL_CONFIG="+c.config, "NO_COLOR=1", "PATH="+filepath.Dir(mqctlBin)+":"+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, c.env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		r.code = exit.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// exportDir is a directory whose name needs quoting in a shell.
func exportDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "it's $HOME & more")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 0600", path, fi.Mode().Perm())
	}
}

// The restore command purge --export prints runs as printed (through a
// shell, with a context and a file name that needs quoting) and puts the
// dead letters back: Kafka records to their partitions with their keys
// and binary headers.
func TestDLQPurgeExportRestoreKafka(t *testing.T) {
	k, cl := kafkaTopic(t, "orders.DLT", 2, nil)
	var recs []*kgo.Record
	for i := range 6 {
		recs = append(recs, &kgo.Record{Topic: "orders.DLT", Key: []byte("customer-" + strconv.Itoa(i)), Value: []byte("order-" + strconv.Itoa(i)),
			Headers: springHeaders("orders", int32(i%2), int64(i), "price missing")})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{} // value -> partition, key, headers
	for _, rec := range readTopic(t, k.Addrs(), "orders.DLT", 6) {
		before[string(rec.Value)] = fmt.Sprintf("p%d %s %s", rec.Partition, rec.Key, headerString(rec.Headers))
	}
	c := newCLI(t)
	if r := c.run("context", "add", "dev kafka", "--url", k.URL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	export := filepath.Join(exportDir(t), "dlt.jsonl")
	r := c.run("-c", "dev kafka", "dlq", "purge", "orders.DLT", "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 6") {
		t.Fatalf("purge: %+v", r)
	}
	checkMode(t, export)
	line := restoreLine(t, r)
	if !strings.HasPrefix(line, "mqctl -c 'dev kafka' produce orders.DLT ") {
		t.Errorf("restore command %q does not name the context and the topic", line)
	}
	if rr := c.runAsPrinted(line); rr.code != 0 || !strings.Contains(rr.stderr, "confirmed 6") {
		t.Fatalf("%s: %+v", line, rr)
	}
	got := readTopic(t, k.Addrs(), "orders.DLT", 6)
	for _, rec := range got {
		if want := before[string(rec.Value)]; fmt.Sprintf("p%d %s %s", rec.Partition, rec.Key, headerString(rec.Headers)) != want {
			t.Errorf("restored %s as p%d %s %s, want %s", rec.Value, rec.Partition, rec.Key, headerString(rec.Headers), want)
		}
	}
	if len(got) != 6 {
		t.Errorf("restored %d of 6", len(got))
	}
}

// RabbitMQ: a filtered purge with --export, restored into the queue with
// the x-death headers it had, so the dead letters read as before.
func TestDLQPurgeExportRestoreRabbitMQ(t *testing.T) {
	u, ch := rabbitQueue(t, "orders", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq"})
	if _, err := ch.QueueDeclare("orders.dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	deadLetterAMQP(t, ch, "orders", "keep-1", "drop-2", "keep-3", "drop-4")
	waitDepth(t, ch, "orders.dlq", 4)
	c := newCLI(t)
	if r := c.run("context", "add", "rabbit", "--url", u); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	export := filepath.Join(exportDir(t), "dropped.jsonl")
	r := c.run("-c", "rabbit", "dlq", "purge", "orders.dlq", "--grep", "^drop", "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 2") {
		t.Fatalf("purge: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 2)
	checkMode(t, export)
	line := restoreLine(t, r)
	if !strings.HasPrefix(line, "mqctl -c rabbit produce --queue orders.dlq ") {
		t.Errorf("restore command %q does not name the context and the queue", line)
	}
	if rr := c.runAsPrinted(line); rr.code != 0 || !strings.Contains(rr.stderr, "confirmed 2") {
		t.Fatalf("%s: %+v", line, rr)
	}
	waitDepth(t, ch, "orders.dlq", 4)
	r = c.run("-c", "rabbit", "dlq", "stats", "orders.dlq", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"key": "rejected",`+"\n      \"count\": 4") {
		t.Errorf("after the restore the dead letters read differently: %+v", r)
	}

	// Without a context the URL is printed without its password, and
	// says how to give it.
	export = filepath.Join(exportDir(t), "all.jsonl")
	r = c.run("--url", u, "dlq", "purge", "orders.dlq", "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 4") || strings.Contains(r.stderr, "guest:guest") {
		t.Fatalf("purge with --url: %+v", r)
	}
	waitDepth(t, ch, "orders.dlq", 0)
	line = restoreLine(t, r)
	if !strings.HasPrefix(line, "mqctl --url "+strings.Replace(u, "guest:guest@", "guest@", 1)+" produce --queue orders.dlq ") ||
		!strings.Contains(r.stderr, "MQCTL_PASSWORD") {
		t.Errorf("restore command %q, note %q", line, r.stderr)
	}
	c.env = []string{"MQCTL_PASSWORD=guest"}
	if rr := c.runAsPrinted(line); rr.code != 0 || !strings.Contains(rr.stderr, "confirmed 4") {
		t.Fatalf("%s: %+v", line, rr)
	}
	waitDepth(t, ch, "orders.dlq", 4)
}

// JetStream: the advisories of a purged advisory stream come back under
// their subject ($ quoted for the shell).
func TestDLQPurgeExportRestoreJetStream(t *testing.T) {
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	e.stream(jetstream.StreamConfig{Name: "DEAD", Subjects: []string{"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.>"}})
	var term []string
	for i := range 3 {
		term = append(term, "order-"+strconv.Itoa(i))
		e.publish("orders.created", term[i], "tenant", "eu")
	}
	e.fail("w", 1, term, nil)
	e.waitDepth("DEAD", 3)
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + e.url}
	export := filepath.Join(exportDir(t), "dead.jsonl")
	r := c.run("dlq", "purge", "DEAD", "--export", export, "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "purged 3") {
		t.Fatalf("purge: %+v", r)
	}
	e.waitDepth("DEAD", 0)
	line := restoreLine(t, r)
	if !strings.HasPrefix(line, "mqctl --url "+e.url+" produce '$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.w' ") {
		t.Errorf("restore command %q does not name the URL and the subject", line)
	}
	if rr := c.runAsPrinted(line); rr.code != 0 || !strings.Contains(rr.stderr, "confirmed 3") {
		t.Fatalf("%s: %+v", line, rr)
	}
	e.waitDepth("DEAD", 3)
	if r := c.run("dlq", "replay", "DEAD", "--yes"); r.code != 0 || !strings.Contains(r.stderr, "replayed 3,") {
		t.Errorf("replay of the restored advisories: %+v", r)
	}
}

// purge --export creates its file only when there is something to write:
// not when the run fails before reading (missing source, wrong password)
// nor when the source is empty; and never over an existing file.
func TestDLQPurgeExportOnlyWhatWasRead(t *testing.T) {
	k, _ := kafkaTopic(t, "empty.DLT", 1, nil)
	e := newJSEnv(t)
	e.stream(jetstream.StreamConfig{Name: "EMPTY_DLQ", Subjects: []string{"dlq.>"}})
	u, _ := rabbitQueue(t, "jobs.dlq", nil)
	rmq := testenv.RabbitMQ(t)
	wrong := strings.Replace(u, "guest:guest@", "guest:not-the-password@", 1)
	if wrong == u {
		t.Skipf("the test broker's URL %s has no guest:guest to change", rmq.AMQPURL)
	}
	c := newCLI(t)
	dir := t.TempDir()
	for i, tc := range []struct {
		url, source string
		code        int
		mention     string
	}{
		{k.URL, "missing.DLT", 5, "missing.DLT"},
		{e.url, "MISSING", 5, "MISSING"},
		{u, "missing.dlq", 5, "missing.dlq"},
		{wrong, "jobs.dlq", 4, "password"},
	} {
		export := filepath.Join(dir, "x"+strconv.Itoa(i)+".jsonl")
		expectError(t, c.run("dlq", "purge", tc.source, "--url", tc.url, "--export", export, "--yes"), tc.code, tc.mention, "not-the-password")
		if _, err := os.Stat(export); !os.IsNotExist(err) {
			t.Errorf("%s on %s: the run failed before reading, and %s exists (%v)", tc.source, tc.url, export, err)
		}
	}
	for i, tc := range []struct{ url, source string }{{k.URL, "empty.DLT"}, {e.url, "EMPTY_DLQ"}, {u, "jobs.dlq"}} {
		export := filepath.Join(dir, "empty"+strconv.Itoa(i)+".jsonl")
		r := c.run("dlq", "purge", tc.source, "--url", tc.url, "--export", export, "--yes")
		if r.code != 0 || !strings.Contains(r.stderr, "not created") {
			t.Errorf("purge of empty %s: %+v", tc.source, r)
		}
		if _, err := os.Stat(export); !os.IsNotExist(err) {
			t.Errorf("purge of empty %s created %s (%v)", tc.source, export, err)
		}
	}
	kept := filepath.Join(dir, "earlier.jsonl")
	if err := os.WriteFile(kept, []byte("the only copy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectError(t, c.run("dlq", "purge", "empty.DLT", "--url", k.URL, "--export", kept, "--yes"), 2, "exists")
	if b, _ := os.ReadFile(kept); string(b) != "the only copy\n" {
		t.Errorf("an existing export was changed: %q", b)
	}
	expectError(t, c.run("dlq", "purge", "empty.DLT", "--url", k.URL, "--export", filepath.Join(dir, "no", "such", "dir.jsonl"), "--yes"), 2, "does not exist")
}
