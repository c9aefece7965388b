package doctor_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	_ "github.com/mqctl/mqctl/internal/broker/nats"
	_ "github.com/mqctl/mqctl/internal/broker/rabbitmq"
	"github.com/mqctl/mqctl/internal/doctor"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// check runs doctor on t, failing the test if it does not end within
// the bound its timeouts allow.
func check(tb testing.TB, t broker.Target) doctor.Report {
	tb.Helper()
	if t.Timeout == 0 {
		t.Timeout = 3 * time.Second
	}
	done := make(chan doctor.Report, 1)
	go func() { done <- doctor.Run(context.Background(), []broker.Target{t}, nil)[0] }()
	select {
	case r := <-done:
		return r
	case <-time.After(testenv.Deadline(2 * t.Timeout)):
		tb.Fatalf("doctor on %s did not end within %s", t.Redacted(), testenv.Deadline(2*t.Timeout))
	}
	return doctor.Report{}
}

// status is the status of one check, "" when it was not reported.
func status(r doctor.Report, check string) broker.Status {
	for _, c := range r.Checks {
		if c.Check == check {
			return c.Status
		}
	}
	return ""
}

// want fails tb unless every check named has the status given.
func want(tb testing.TB, r doctor.Report, checks map[string]broker.Status) {
	tb.Helper()
	for check, st := range checks {
		if got := status(r, check); got != st {
			tb.Errorf("%s: %s, want %s\n%s", check, got, st, dump(r))
		}
	}
}

func dump(r doctor.Report) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

func TestKafkaAnonymous(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders")}})
	r := check(t, broker.Target{URL: k.URL})
	want(t, r, map[string]broker.Status{
		broker.CheckConnect: broker.StatusOK, broker.CheckTLS: broker.StatusOK, broker.CheckAuth: broker.StatusOK,
		broker.CheckVersion: broker.StatusOK, broker.CheckRead: broker.StatusOK, broker.CheckProduce: broker.StatusOK,
		broker.CheckDLQ: broker.StatusOK, broker.CheckLag: broker.StatusOK,
	})
	if doctor.Failed([]doctor.Report{r}) {
		t.Errorf("an open cluster failed:\n%s", dump(r))
	}
}

// A user with READ on one of two topics it can describe: read is partial,
// produce is missing (doctor fails), and a wrong password is an auth
// failure that never shows the password.
func TestKafkaACLs(t *testing.T) {
	allow := func(res kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: res, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableACLs(),
		kfake.Superuser("PLAIN", "admin", "admin-secret"),
		kfake.User("PLAIN", "reader", "reader-pass-93",
			allow(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationDescribe),
			allow(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLOperationRead),
			allow(kmsg.ACLResourceTypeTopic, "billing", kmsg.ACLOperationDescribe),
			allow(kmsg.ACLResourceTypeGroup, "*", kmsg.ACLOperationDescribe),
		),
		kfake.SeedTopics(1, "orders", "billing", "secret"),
	}})
	target := broker.Target{URL: k.URL, SASL: "PLAIN", Username: "reader", Password: "reader-pass-93"}
	r := check(t, target)
	want(t, r, map[string]broker.Status{
		broker.CheckAuth: broker.StatusOK, broker.CheckRead: broker.StatusWarn,
		broker.CheckProduce: broker.StatusFail, broker.CheckDLQ: broker.StatusFail,
	})
	if !doctor.Failed([]doctor.Report{r}) {
		t.Errorf("produce denied everywhere did not fail:\n%s", dump(r))
	}
	if d := detail(r, broker.CheckRead); !strings.Contains(d, "1 of 2 topics") || !strings.Contains(d, "billing") {
		t.Errorf("read detail %q: want 1 of 2 topics, not on billing", d)
	}

	target.Password = "wrong-pass-7741"
	r = check(t, target)
	want(t, r, map[string]broker.Status{broker.CheckConnect: broker.StatusOK, broker.CheckAuth: broker.StatusFail})
	if strings.Contains(dump(r), "wrong-pass-7741") {
		t.Errorf("the password is in the report:\n%s", dump(r))
	}
}

func detail(r doctor.Report, check string) string {
	for _, c := range r.Checks {
		if c.Check == check {
			return c.Detail
		}
	}
	return ""
}

func TestNATSWithAndWithoutJetStream(t *testing.T) {
	on := testenv.NATS(t, sandbox.NATSOptions{})
	r := check(t, broker.Target{URL: on.URL})
	want(t, r, map[string]broker.Status{
		broker.CheckVersion: broker.StatusOK, broker.CheckJetStream: broker.StatusOK,
		broker.CheckRead: broker.StatusUnknown, broker.CheckLag: broker.StatusOK,
	})
	if doctor.Failed([]doctor.Report{r}) {
		t.Errorf("NATS with JetStream failed:\n%s", dump(r))
	}

	off := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) { o.JetStream = false }})
	r = check(t, broker.Target{URL: off.URL})
	// lag and dlq ls fail there (exit 1), as on RabbitMQ without its
	// management API, whose check is a FAIL too.
	want(t, r, map[string]broker.Status{
		broker.CheckJetStream: broker.StatusFail, broker.CheckLag: broker.StatusFail, broker.CheckDLQ: broker.StatusFail,
	})
	if !doctor.Failed([]doctor.Report{r}) {
		t.Errorf("NATS without JetStream passed:\n%s", dump(r))
	}
}

// A user denied the JetStream API: doctor says so within its timeout.
func TestNATSDeniedJetStreamAPI(t *testing.T) {
	n := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{{Username: "app", Password: "app-pass-5521", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.>"}},
		}}}
	}})
	r := check(t, broker.Target{URL: n.URL, Username: "app", Password: "app-pass-5521", Timeout: 2 * time.Second})
	want(t, r, map[string]broker.Status{
		broker.CheckAuth: broker.StatusOK, broker.CheckJetStream: broker.StatusFail, broker.CheckLag: broker.StatusFail,
	})

	r = check(t, broker.Target{URL: n.URL, Username: "app", Password: "nope-8812"})
	want(t, r, map[string]broker.Status{broker.CheckAuth: broker.StatusFail})
	if strings.Contains(dump(r), "nope-8812") {
		t.Errorf("the password is in the report:\n%s", dump(r))
	}
}

// A refused port and an address nothing answers on both end as connect
// failures within the timeout.
func TestDeadBrokers(t *testing.T) {
	port, silent := testenv.ClosedPort(t), testenv.SilentPort(t)
	for _, u := range []string{
		fmt.Sprintf("kafka://127.0.0.1:%d", port),
		fmt.Sprintf("nats://127.0.0.1:%d", port),
		fmt.Sprintf("amqp://127.0.0.1:%d/", port),
		fmt.Sprintf("kafka://127.0.0.1:%d", silent), // connects, never answers
		fmt.Sprintf("nats://127.0.0.1:%d", silent),
		fmt.Sprintf("amqp://127.0.0.1:%d/", silent),
	} {
		r := check(t, broker.Target{URL: u, Timeout: time.Second})
		want(t, r, map[string]broker.Status{broker.CheckConnect: broker.StatusFail})
		// The broker is known from the URL without reaching it.
		scheme, _, _ := strings.Cut(u, ":")
		if wantBroker := map[string]string{"kafka": "kafka", "nats": "nats", "amqp": "rabbitmq"}[scheme]; r.Broker != wantBroker {
			t.Errorf("%s: broker %q, want %q", u, r.Broker, wantBroker)
		}
		if !doctor.Failed([]doctor.Report{r}) {
			t.Errorf("%s: a dead broker did not fail", u)
		}
	}
}

func TestRabbitMQ(t *testing.T) {
	env := testenv.RabbitMQ(t)
	target := broker.Target{URL: env.AMQPURL, ManagementURL: env.APIURL}
	r := check(t, target)
	want(t, r, map[string]broker.Status{
		broker.CheckAuth: broker.StatusOK, broker.CheckVersion: broker.StatusOK, broker.CheckManagement: broker.StatusOK,
		broker.CheckRead: broker.StatusOK, broker.CheckProduce: broker.StatusOK, broker.CheckLag: broker.StatusOK,
	})
	if !strings.Contains(detail(r, broker.CheckVersion), "RabbitMQ") {
		t.Errorf("version detail %q does not name RabbitMQ", detail(r, broker.CheckVersion))
	}

	// A management API that is not there: the commands that list fail.
	target.ManagementURL = fmt.Sprintf("http://127.0.0.1:%d", testenv.ClosedPort(t))
	r = check(t, target)
	want(t, r, map[string]broker.Status{broker.CheckManagement: broker.StatusFail, broker.CheckLag: broker.StatusWarn})
}

// rabbitUser creates a user with tags and permissions in vhost, removed
// when t ends, and returns a target logging in as it.
func rabbitUser(t *testing.T, env *testenv.RabbitMQEnv, vhost, tags string, perms map[string]string) broker.Target {
	user := testenv.UniqueName(t, "doc")
	pass := "pw-" + user
	env.MustCall(t, http.MethodPut, "/api/users/"+user, map[string]string{"password": pass, "tags": tags}, nil)
	t.Cleanup(func() { _ = env.Call(http.MethodDelete, "/api/users/"+user, nil, nil) })
	env.MustCall(t, http.MethodPut, "/api/permissions/"+url.PathEscape(vhost)+"/"+user, perms, nil)
	u, _ := url.Parse(env.AMQPURL)
	u.User = url.UserPassword(user, pass)
	u.Path = "/" + vhost
	return broker.Target{URL: u.String(), ManagementURL: env.APIURL}
}

func TestRabbitMQPermissions(t *testing.T) {
	env := testenv.RabbitMQ(t)
	vhost := env.NewVHost(t)

	// An administrator sees its own permissions: read narrowed, no write.
	admin := rabbitUser(t, env, vhost, "administrator", map[string]string{"configure": "", "write": "", "read": "^doc-.*"})
	r := check(t, admin)
	want(t, r, map[string]broker.Status{
		broker.CheckRead: broker.StatusWarn, broker.CheckProduce: broker.StatusFail, broker.CheckDLQ: broker.StatusFail,
	})
	if !doctor.Failed([]doctor.Report{r}) {
		t.Errorf("no write permission did not fail:\n%s", dump(r))
	}

	// Anyone else cannot know.
	mon := rabbitUser(t, env, vhost, "monitoring", map[string]string{"configure": ".*", "write": ".*", "read": ".*"})
	r = check(t, mon)
	want(t, r, map[string]broker.Status{
		broker.CheckManagement: broker.StatusOK, broker.CheckRead: broker.StatusUnknown, broker.CheckProduce: broker.StatusUnknown,
	})
	if doctor.Failed([]doctor.Report{r}) {
		t.Errorf("a monitoring user with every permission failed:\n%s", dump(r))
	}

	// No tag: the management API refuses the user.
	plain := rabbitUser(t, env, vhost, "", map[string]string{"configure": ".*", "write": ".*", "read": ".*"})
	r = check(t, plain)
	want(t, r, map[string]broker.Status{broker.CheckAuth: broker.StatusOK, broker.CheckManagement: broker.StatusFail})

	// A wrong password never shows.
	u, _ := url.Parse(plain.URL)
	u.User = url.UserPassword(u.User.Username(), "wrong-pw-3310")
	r = check(t, broker.Target{URL: u.String(), ManagementURL: env.APIURL})
	want(t, r, map[string]broker.Status{broker.CheckAuth: broker.StatusFail})
	if strings.Contains(dump(r), "wrong-pw-3310") {
		t.Errorf("the password is in the report:\n%s", dump(r))
	}
}

// TLS verified is OK, unverified a WARN, a certificate from another CA
// a tls FAIL.
func TestNATSTLS(t *testing.T) {
	ca, other := testenv.NewPKI(t), testenv.NewPKI(t)
	n := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
		o.TLSTimeout = 2
	}})
	u := strings.Replace(n.URL, "nats://", "tls://", 1)
	want(t, check(t, broker.Target{URL: u, TLS: broker.TLSOptions{CAFile: ca.CAFile}}),
		map[string]broker.Status{broker.CheckTLS: broker.StatusOK, broker.CheckJetStream: broker.StatusOK})
	want(t, check(t, broker.Target{URL: u, TLS: broker.TLSOptions{InsecureSkipVerify: true}}),
		map[string]broker.Status{broker.CheckTLS: broker.StatusWarn})
	r := check(t, broker.Target{URL: u, TLS: broker.TLSOptions{CAFile: other.CAFile}})
	want(t, r, map[string]broker.Status{broker.CheckConnect: broker.StatusOK, broker.CheckTLS: broker.StatusFail})
}

// A user whose password is its own name (guest:guest) is shown by name in
// the auth check, on every broker; the name appears nowhere else in the
// report but the redacted URL's user field, so the password is scrubbed
// from everything else.
func TestUserNamedLikePassword(t *testing.T) {
	const kUser, nUser = "same-k-8812", "same-n-4471"
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableACLs(), kfake.Superuser("PLAIN", kUser, kUser), kfake.SeedTopics(1, "orders"),
	}})
	n := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Users = []*server.User{{Username: nUser, Password: nUser}}
	}})
	env := testenv.RabbitMQ(t)
	rUser := testenv.UniqueName(t, "same")
	env.MustCall(t, http.MethodPut, "/api/users/"+rUser, map[string]string{"password": rUser, "tags": "administrator"}, nil)
	t.Cleanup(func() { _ = env.Call(http.MethodDelete, "/api/users/"+rUser, nil, nil) })
	env.MustCall(t, http.MethodPut, "/api/permissions/%2F/"+rUser, map[string]string{"configure": ".*", "write": ".*", "read": ".*"}, nil)
	ru, _ := url.Parse(env.AMQPURL)
	ru.User, ru.Path = url.UserPassword(rUser, rUser), "/"
	nu, _ := url.Parse(n.URL)
	nu.User = url.UserPassword(nUser, nUser)

	for _, tc := range []struct {
		name, user string
		target     broker.Target
		auth       string
		inURL      bool
	}{
		{"kafka", kUser, broker.Target{URL: k.URL, SASL: "PLAIN", Username: kUser, Password: kUser},
			`SASL PLAIN login for user "` + kUser + `" accepted`, false},
		{"nats flags", nUser, broker.Target{URL: n.URL, Username: nUser, Password: nUser}, `user "` + nUser + `" accepted`, false},
		{"nats url", nUser, broker.Target{URL: nu.String()}, `user "` + nUser + `" accepted`, true},
		{"rabbitmq", rUser, broker.Target{URL: ru.String(), ManagementURL: env.APIURL}, `user "` + rUser + `" accepted in vhost "/"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, tc.target)
			if got := detail(r, broker.CheckAuth); got != tc.auth {
				t.Errorf("auth detail %q, want %q\n%s", got, tc.auth, dump(r))
			}
			wantCount := 1
			if tc.inURL {
				wantCount = 2 // and the URL's user, its password redacted
				if want := ":xxxxx@"; !strings.Contains(r.URL, tc.user+want) {
					t.Errorf("URL %q, want the user and a redacted password", r.URL)
				}
			}
			if got := strings.Count(dump(r), tc.user); got != wantCount {
				t.Errorf("%q appears %d times in the report, want %d:\n%s", tc.user, got, wantCount, dump(r))
			}
			if doctor.Failed([]doctor.Report{r}) {
				t.Errorf("a check failed:\n%s", dump(r))
			}
		})
	}
}
