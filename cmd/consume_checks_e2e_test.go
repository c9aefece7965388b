package cmd_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// Core NATS has no acknowledgement: consume says so once and reports the
// messages as delivered, not acked (issue 11 item 8).
func TestConsumeCoreNATSReportsNotAcknowledged(t *testing.T) {
	n := testenv.NATS(t, sandbox.NATSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := newCLI(t).command(ctx, "consume", "core.x", "--core", "-n", "2", "--url", n.URL)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Publish once mqctl's subscription is on the server.
	for {
		sz, err := n.Server().Subsz(&server.SubszOptions{Subscriptions: true, Test: "core.x"})
		if err != nil {
			t.Fatal(err)
		}
		if sz.Total > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("mqctl never subscribed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("core.x", []byte("one"))
	nc.Publish("core.x", []byte("two"))
	nc.Flush()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consume: %v: %s", err, errb.String())
	}
	stderr := errb.String()
	if out.String() != "one\ntwo\n" {
		t.Errorf("stdout %q", out.String())
	}
	if c := strings.Count(stderr, "no acknowledgement"); c != 1 {
		t.Errorf("warned %d times about acks, want once: %s", c, stderr)
	}
	if strings.Contains(stderr, "acked 2") || !strings.Contains(stderr, "read 2, output 2, not acknowledged 2") {
		t.Errorf("summary does not say what happened: %s", stderr)
	}
}

// Output templates are checked for syntax and for names a message does not
// have before anything is read, not test-run on an empty message; one that
// fails on a message names it, counts it failed, stops there and exits 3
// with what was written before acked (issue 11 item 17).
func TestConsumeTemplateErrors(t *testing.T) {
	k, cl := kafkaTopic(t, "tpl", 1, nil)
	recs := []*kgo.Record{
		{Topic: "tpl", Value: []byte("abcdef"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}},
		{Topic: "tpl", Value: []byte("x"), Headers: []kgo.RecordHeader{{Key: "h2", Value: []byte("2")}}},
		{Topic: "tpl", Value: []byte("abcdef"), Headers: []kgo.RecordHeader{{Key: "h3", Value: []byte("3")}}},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.env = []string{"MQCTL_URL=" + k.URL}

	r := c.run("consume", "tpl", "--until-end", "-o", "template={{(index .Headers 0).Key}}")
	if r.code != 0 || r.stdout != "h\nh2\nh3\n" {
		t.Fatalf("a template valid for every message was refused: %+v", r)
	}
	r = c.run("consume", "tpl", "--until-end", "--group", "g", "-o", "template={{slice .Value 0 2}}")
	if r.code != 3 || r.stdout != "ab\n" {
		t.Fatalf("exit %d stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	if l := lastLine(r.stderr); !strings.HasPrefix(l, "mqctl: tpl[0]@1: template: ") || !strings.Contains(l, "not acked") {
		t.Errorf("error line does not name the message: %q", l)
	}
	if !strings.Contains(r.stderr, "acked 1, failed 1") {
		t.Errorf("summary: %s", r.stderr)
	}
	if got := committed(t, cl, "g", "tpl"); got[0] != 1 {
		t.Errorf("group committed %v, want partition 0 at 1: only the message written", got)
	}
	expectError(t, c.run("consume", "tpl", "-o", "template={{.Value.Nope}}"), 2, "Nope")
	expectError(t, c.run("consume", "tpl", "-o", "template={{nosuchfunc .Value}}"), 2, "nosuchfunc")
	if got := committed(t, cl, "g", "tpl"); got[0] != 1 {
		t.Errorf("a refused template moved the group: %v", got)
	}
}

// An empty --from is refused, not taken as the default (issue 11 item 16).
func TestConsumeFromEmpty(t *testing.T) {
	k, _ := kafkaTopic(t, "f", 1, nil)
	expectError(t, newCLI(t).run("consume", "f", "--url", k.URL, "--from", "", "--until-end"), 2, "--from is empty")
}

// --from -0 is the last none, the end: not offset 0, the beginning; a time
// ahead of the clock is refused, not taken as the end (issue 16 item D).
func TestConsumeFromLastZeroAndFuture(t *testing.T) {
	k, cl := kafkaTopic(t, "f", 1, nil)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "f", Value: []byte("a")}, &kgo.Record{Topic: "f", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	n, _, _ := natsStream(t, "S", []string{"s.>"}, "s.x", 2)
	c := newCLI(t)
	for _, url := range []string{k.URL, n.URL} {
		src := map[string]string{k.URL: "f", n.URL: "S"}[url]
		r := c.run("consume", src, "--url", url, "--from", "-0", "--until-end", "--ack", "none")
		if r.code != 0 || r.stdout != "" {
			t.Errorf("%s --from -0: exit %d stdout %q (want nothing: the last none): %s", src, r.code, r.stdout, r.stderr)
		}
		expectError(t, c.run("consume", src, "--url", url, "--from", "2030-01-01T00:00:00Z", "--until-end", "--ack", "none"),
			2, "--from 2030-01-01T00:00:00Z is in the future")
	}
}
