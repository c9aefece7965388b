package cmd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// rabbitHost is host:port of the test RabbitMQ's AMQP listener.
func rabbitHost(t *testing.T, rmq *testenv.RabbitMQEnv) string {
	t.Helper()
	ep, err := broker.ParseEndpoint(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	return ep.Hosts[0]
}

// -c NAME --url URL: the user and password written in the URL are the ones
// used; the context's login fills in only what the URL leaves out
// (issue 11, item 5).
func TestURLCredentialsBeatTheContext(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	host := rabbitHost(t, rmq)
	c := newCLI(t)
	c.env = []string{"RIGHT_PW=guest"}
	for _, add := range [][]string{
		{"context", "add", "right", "--url", "amqp://" + host + "/", "--username", "guest", "--password-env", "RIGHT_PW", "--management-url", rmq.APIURL},
		{"context", "add", "wrong", "--url", "amqp://" + host + "/", "--username", "guest", "--password", "wrong-pass", "--management-url", rmq.APIURL},
	} {
		if r := c.run(add...); r.code != 0 {
			t.Fatalf("%v: %+v", add, r)
		}
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"a wrong password in --url fails", nil, []string{"-c", "right", "--url", "amqp://guest:wrong-pass@" + host + "/"}, 4},
		{"a right password in --url wins over the context's wrong one", nil, []string{"-c", "wrong", "--url", "amqp://guest:guest@" + host + "/"}, 0},
		{"a user-only --url keeps the context's password", nil, []string{"-c", "right", "--url", "amqp://guest@" + host + "/"}, 0},
		{"--url wins over MQCTL_PASSWORD", []string{"MQCTL_PASSWORD=wrong-pass"}, []string{"-c", "right", "--url", "amqp://guest:guest@" + host + "/"}, 0},
		{"MQCTL_PASSWORD fills in a user-only --url", []string{"MQCTL_PASSWORD=wrong-pass"}, []string{"-c", "right", "--url", "amqp://guest@" + host + "/"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.env = append([]string{"RIGHT_PW=guest"}, tc.env...)
			r := c.run(append([]string{"ls", "-o", "json"}, tc.args...)...)
			if tc.code == 0 && r.code != 0 {
				t.Fatalf("exit %d, want 0: %s", r.code, r.stderr)
			}
			if tc.code != 0 {
				expectError(t, r, tc.code, "refused", "wrong-pass")
			}
		})
	}
}

// -c NAME selects the context `context show` shows, as it does for every
// other command (issue 11, item 9).
func TestContextShowFollowsTheSelection(t *testing.T) {
	c := newCLI(t)
	for _, name := range []string{"first", "second"} {
		if r := c.run("context", "add", name, "--url", "nats://"+name+".example:4222"); r.code != 0 {
			t.Fatalf("context add: %+v", r)
		}
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"context", "show"}, "first"},
		{nil, []string{"-c", "second", "context", "show"}, "second"},
		{nil, []string{"context", "show", "-c", "second", "-o", "json"}, "second"},
		{[]string{"MQCTL_CONTEXT=second"}, []string{"context", "show"}, "second"},
		{[]string{"MQCTL_CONTEXT=second"}, []string{"-c", "first", "context", "show"}, "first"},
		{nil, []string{"-c", "second", "context", "show", "first"}, "first"},
	} {
		c.env = tc.env
		r := c.run(tc.args...)
		if r.code != 0 || !strings.Contains(r.stdout, tc.want+".example") || strings.Contains(r.stdout, map[string]string{"first": "second", "second": "first"}[tc.want]+".example") {
			t.Errorf("%v %v: want context %s, got exit %d %q %q", tc.env, tc.args, tc.want, r.code, r.stdout, r.stderr)
		}
	}
	c.env = nil
	expectError(t, c.run("-c", "ghost", "context", "show"), 2, `context "ghost" does not exist`)
}

// Every URL a context holds is redacted (issue 11, item 11); the full
// search over every source and command is TestSecretsNeverPrinted.
func TestContextShowRedactsTheManagementURL(t *testing.T) {
	c := newCLI(t)
	if r := c.run("context", "add", "x", "--url", "amqp://guest@h:5672/", "--password", "amqp-pw-1",
		"--management-url", "http://guest:mgmt-SECRET-2@h:15672"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	for _, args := range [][]string{
		{"context", "show", "x"},
		{"context", "show", "x", "-o", "json"},
		{"context", "show", "x", "-o", "yaml"},
		{"context", "show", "x", "-o", "template={{.ManagementURL}}"},
		{"context", "ls", "-o", "json"},
	} {
		r := c.run(args...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		for _, secret := range []string{"mgmt-SECRET-2", "amqp-pw-1"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("%v shows %s: %s", args, secret, r.stdout)
			}
		}
	}
	if r := c.run("context", "show", "x", "-o", "template={{.ManagementURL}}"); r.stdout != "http://guest:xxxxx@h:15672\n" {
		t.Errorf("management URL shown as %q, want it with the password masked", r.stdout)
	}
}

// consume --exec handlers inherit no variable holding a credential mqctl
// used, and the rest of the environment (issue 11, item 12).
func TestExecHandlersGetNoCredentials(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", "probe-pw-77"),
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.SASL(scram.Auth{User: "ops", Pass: "probe-pw-77"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "probe"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "probe", Value: []byte("m")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.env = []string{
		"PROBE_PW=probe-pw-77",                         // the context's password_env
		"APP_BROKER=kafka://ops:probe-pw-77@elsewhere", // a URL holding it
		"COPY_OF_PW=probe-pw-77",                       // the same value under another name
		"KEEP_ME=still-here", "HOME_LIKE=/home/probe-pw",
	}
	if r := c.run("context", "add", "k", "--url", k.URL, "--sasl", "SCRAM-SHA-256", "--username", "ops", "--password-env", "PROBE_PW"); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := c.run("-c", "k", "consume", "probe", "-n", "1", "--exec", "env")
	if r.code != 0 {
		t.Fatalf("consume --exec env: %+v", r)
	}
	for _, gone := range []string{"PROBE_PW=", "APP_BROKER=", "COPY_OF_PW=", "probe-pw-77", "MQCTL_"} {
		if strings.Contains(r.stdout, gone) {
			t.Errorf("the handler's environment holds %q:\n%s", gone, r.stdout)
		}
	}
	for _, kept := range []string{"KEEP_ME=still-here", "HOME_LIKE=/home/probe-pw", "PATH=", "MQ_DESTINATION=probe", "MQ_BROKER=kafka"} {
		if !strings.Contains(r.stdout, kept) {
			t.Errorf("the handler's environment lacks %q:\n%s", kept, r.stdout)
		}
	}
}

// --timeout must be positive (issue 11, item 16).
func TestTimeoutMustBePositive(t *testing.T) {
	url := fmt.Sprintf("kafka://127.0.0.1:%d", closedPort(t))
	for _, v := range []string{"0", "0s", "-1s"} {
		expectError(t, newCLI(t).run("ls", "--url", url, "--timeout", v), 2, "--timeout")
		expectError(t, newCLI(t).run("context", "add", "x", "--url", url, "--timeout", v), 2, "--timeout")
	}
	c := newCLI(t)
	if err := os.WriteFile(c.config, []byte("current_context: x\ncontexts:\n- name: x\n  url: "+url+"\n  timeout: -2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectError(t, c.run("ls"), 2, `context "x": timeout -2s`)
}

// A URL that cannot be right is one line naming it (redacted) and what is
// wrong, exit 2, on every scheme, before anything connects (issue 11,
// item 16).
func TestURLEdgeCases(t *testing.T) {
	for _, scheme := range []string{"kafka", "amqp", "amqps", "nats", "tls"} {
		for _, tc := range []struct{ rest, shown, mention string }{
			{"h:", "h:", "empty port in h:"},
			{"[::1]:", "[::1]:", "empty port in [::1]:"},
			{"u:p@h:0", "xxxxx@h:0", "port 0 out of range"},
			{"u:p@h:70000", "xxxxx@h:70000", "port 70000 out of range"},
			// Without a user, what follows the ':' may be a password whose
			// host was left out (u:s3cretpw, u:123456): it is not quoted.
			{"h:0", "h:xxxxx", "what follows h: is not a port from 1 to 65535"},
			{"h:9x", "h:xxxxx", "what follows h: is not a port from 1 to 65535"},
			{"u:s3cretpw", "u:xxxxx", "what follows u: is not a port from 1 to 65535"},
			{"u:s3cretpw:1", "u:xxxxx", "what follows u: is not a port from 1 to 65535"},
			{"u:s3,cretpw", "u:xxxxx", "what follows u: is not a port from 1 to 65535"},
			{":4222", ":4222", "empty host"},
			{"u:s3cretpw@", "xxxxx@", "no host"},
			{"@h", "xxxxx@h", "empty user name"},
			{":@h", "xxxxx@h", "empty user name"},
			{":s3cretpw@h", "xxxxx@h", "empty user name"},
			{"u:@h", "xxxxx@h", "empty password"},
			{"h1,,h2", "h1,,h2", "empty host in list"},
		} {
			raw := scheme + "://" + tc.rest
			t.Run(raw, func(t *testing.T) {
				r := newCLI(t).run("ls", "--url", raw, "--timeout", "1s")
				expectError(t, r, 2, tc.mention, "s3cretpw")
				if !strings.Contains(r.stderr, fmt.Sprintf("%q", scheme+"://"+tc.shown)) {
					t.Errorf("the error does not name the URL %s: %s", scheme+"://"+tc.shown, r.stderr)
				}
			})
		}
	}
}

// A wrong RabbitMQ password is an auth failure (exit 4) even when the
// broker's deliberate delay of its refusal (3 s) outlasts --timeout
// (issue 11, item 16).
func TestRabbitMQRefusalAfterAShortTimeout(t *testing.T) {
	rmq := testenv.RabbitMQ(t)
	host := rabbitHost(t, rmq)
	c := newCLI(t)
	if r := c.run("context", "add", "r", "--url", "amqp://"+host+"/", "--management-url", rmq.APIURL); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	r := c.run("-c", "r", "--url", "amqp://guest:wrong-pass@"+host+"/", "ls", "--timeout", "500ms")
	expectError(t, r, 4, `refused user "guest"`, "wrong-pass")
	if r := c.run("-c", "r", "--url", "amqp://guest:guest@"+host+"/", "ls", "--timeout", "500ms"); r.code != 0 {
		t.Fatalf("the right password within 500ms: %+v", r)
	}
}
