package cmd_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// doctor over several contexts: one table, JSON with a report per
// context, exit 1 when one context fails and 0 when none does.
func TestDoctorContexts(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	n := testenv.NATS(t, sandbox.NATSOptions{})
	env := testenv.RabbitMQ(t)
	c := newCLI(t)
	for name, args := range map[string][]string{
		"k":    {"--url", k.URL},
		"n":    {"--url", n.URL},
		"r":    {"--url", env.AMQPURL, "--management-url", env.APIURL},
		"dead": {"--url", fmt.Sprintf("nats://127.0.0.1:%d", testenv.ClosedPort(t))},
	} {
		if r := c.run(append([]string{"context", "add", name}, args...)...); r.code != 0 {
			t.Fatalf("context add %s: %d %s", name, r.code, r.stderr)
		}
	}

	r := c.run("doctor", "-c", "k,n,r")
	if r.code != 0 {
		t.Fatalf("doctor -c k,n,r: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"kafka", "nats", "rabbitmq", "jetstream", "management", "version"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor table lacks %q:\n%s", want, r.stdout)
		}
	}

	r = c.run("doctor", "--all-contexts", "--timeout", "2s", "-o", "json")
	if r.code != 1 {
		t.Fatalf("doctor --all-contexts with a dead context: exit %d, want 1\n%s", r.code, r.stderr)
	}
	var reports []struct {
		Context string
		Checks  []struct{ Check, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, r.stdout)
	}
	if len(reports) != 4 {
		t.Fatalf("%d reports, want 4:\n%s", len(reports), r.stdout)
	}
	for _, rep := range reports {
		failed := false
		for _, ch := range rep.Checks {
			failed = failed || ch.Status == "FAIL"
		}
		if failed != (rep.Context == "dead") {
			t.Errorf("context %s failed=%v:\n%+v", rep.Context, failed, rep.Checks)
		}
	}
	if !strings.Contains(r.stderr, "dead") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("stderr should be one line naming dead: %q", r.stderr)
	}

	if r := c.run("doctor", "--all-contexts", "-c", "k"); r.code != 2 {
		t.Errorf("--all-contexts with -c: exit %d, want 2", r.code)
	}
}

// A wrong password is an auth failure and never printed.
func TestDoctorBadPassword(t *testing.T) {
	env := testenv.RabbitMQ(t)
	c := newCLI(t)
	u, err := url.Parse(env.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "Wr0ng-doctor-pw")
	r := c.run("doctor", "--url", u.String(), "--timeout", "5s")
	if r.code != 1 || !strings.Contains(r.stdout, "auth") || !strings.Contains(r.stdout, "FAIL") {
		t.Errorf("exit %d, want 1 with an auth FAIL:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The broker is known from the URL without logging in: the rows name
	// it rather than "-".
	for _, row := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		if f := strings.Fields(row); len(f) < 2 || f[1] != "rabbitmq" {
			t.Errorf("row %q does not name the broker", row)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "Wr0ng-doctor-pw") {
		t.Errorf("the password is in the output:\n%s%s", r.stdout, r.stderr)
	}
}
