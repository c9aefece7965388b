package cmd

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestNewCmdConsumeOptions(t *testing.T) {
	f := newTestFactory(t)
	var got *ConsumeOptions
	cmd := NewCmdConsume(f, func(o *ConsumeOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"orders", "audit", "--group", "billing", "-n", "7", "--ack", "none", "--header", "a=b", "--header", "c", "--prefetch", "9"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	fl := got.Flags
	if strings.Join(got.Sources, ",") != "orders,audit" || fl.Consumer.Group != "billing" || fl.Count != 7 || fl.Ack != "none" ||
		strings.Join(fl.Headers, "|") != "a=b|c" || fl.Consumer.Prefetch != 9 || fl.OutputGiven || !got.Changed("group") || got.Changed("from") {
		t.Errorf("options %+v flags %+v", got, fl)
	}
}

// TestConsumeInProcessTTYAndPipe: the same hostile message is escaped on
// a terminal and written as is to a pipe; a flag of another broker is
// refused with the drivers' one text.
func TestConsumeInProcessTTYAndPipe(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "HOSTILE", Subjects: []string{"hostile"}}); err != nil {
		t.Fatal(err)
	}
	evil := "ok\x1b]0;pwned\x07\x1b[31mred"
	if _, err := js.Publish("hostile", []byte(evil)); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MQCTL_URL": srv.URL}
	pipe := runInProcess(t, false, env, "consume", "HOSTILE", "--ack", "none", "-n", "1")
	if pipe.code != 0 || pipe.stdout != evil+"\n" {
		t.Errorf("pipe: exit %d, stdout %q, stderr %q", pipe.code, pipe.stdout, pipe.stderr)
	}
	tty := runInProcess(t, true, env, "consume", "HOSTILE", "--ack", "none", "-n", "1")
	if tty.code != 0 || strings.ContainsAny(tty.stdout, "\x1b\x07") || !strings.Contains(tty.stdout, "red") {
		t.Errorf("tty: exit %d, stdout %q, stderr %q", tty.code, tty.stdout, tty.stderr)
	}
	r := runInProcess(t, false, env, "consume", "HOSTILE", "--group", "g")
	if r.code != 2 || r.stderr != "mqctl: --group applies to kafka only, and this context is nats\n" {
		t.Errorf("--group on nats: %+v", r)
	}
}
