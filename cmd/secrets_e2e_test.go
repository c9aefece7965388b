package cmd_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/reliability"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// The secrets test gives mqctl each of two passwords every way it can.
// secretPW is random: it holds characters that URL-escaping changes, so
// the escaped form differs from the raw one, and mqctl's backstop masks it
// wherever it stands. wordPW is a plain word, which mqctl masks only where
// a secret goes (URL user info, credential parameters), never as free
// text, so that a context or queue named with the word prints intact:
// with it the test finds any path that the structural rules miss.
const (
	secretPW = "Pw3/s#cr?et@9+x%Q"
	wordPW   = "sesame"
)

// secretCommand is one run of mqctl in the secrets test. Arguments in
// braces are replaced per broker (see secretBroker.args); {dir} is a
// directory for files the command writes, searched afterwards. Add the
// commands that come later here.
type secretCommand struct {
	name string
	args []string
	// code is the exit code wanted; -1 is any failure.
	code int
	// wrongLogin runs the command with a login the broker refuses, made
	// with the same password, so a failing login is searched too.
	wrongLogin bool
}

var secretCommands = []secretCommand{
	{name: "context ls", args: []string{"context", "ls", "-v"}},
	{name: "context ls json", args: []string{"context", "ls", "-o", "json"}},
	{name: "context ls yaml", args: []string{"context", "ls", "-o", "yaml"}},
	{name: "context show", args: []string{"context", "show", "-v"}},
	{name: "context show json", args: []string{"context", "show", "-o", "json"}},
	{name: "context show yaml", args: []string{"context", "show", "-o", "yaml"}},
	{name: "context show template", args: []string{"context", "show", "-o", "template={{.URL}} {{.ManagementURL}} {{.Password}} {{.Username}}"}},
	{name: "context show all", args: []string{"context", "show", "-o", "template={{printf \"%#v\" .}}"}},
	{name: "context current", args: []string{"context", "current", "-v"}},
	{name: "ls", args: []string{"ls", "-v", "-v"}},
	{name: "ls json", args: []string{"ls", "-v", "-o", "json"}},
	{name: "produce", args: []string{"produce", "{produce-to}", "secret-test", "-v", "--failed-out", "{dir}/failed.jsonl"}},
	{name: "consume", args: []string{"consume", "{consume-from}", "-n", "1", "-v", "-o", "jsonl"}},
	{name: "consume exec", args: []string{"consume", "{consume-from}", "-n", "1", "-v", "--exec", "env; cat"}},
	{name: "consume missing", args: []string{"consume", "{missing}", "-n", "1", "-v"}, code: -1},
	{name: "produce missing", args: []string{"produce", "{missing-produce}", "x", "-v", "--failed-out", "{dir}/failed.jsonl"}, code: -1},
	{name: "ls refused", args: []string{"ls", "-v"}, code: 4, wrongLogin: true},
	{name: "produce refused", args: []string{"produce", "{produce-to}", "x", "-v"}, code: 4, wrongLogin: true},
}

// secretBroker is one broker of the secrets test.
type secretBroker struct {
	name string
	// user is the broker's user whose password is pw.
	user string
	pw   string
	// url is the broker's URL without user info; scheme://host:port/path.
	url string
	// addContext is the flags of `context add` besides the login.
	addContext []string
	// mgmtURL is a RabbitMQ management API URL without credentials.
	mgmtURL string
	// args replaces the {placeholders} of secretCommand.args.
	args map[string][]string
}

// secretForm is one way a password could leak; kind is "plain",
// "url-encoded" or "base64".
type secretForm struct{ kind, text string }

// secretForms are the ways pw could leak: as is, URL-escaped, and
// base64-encoded (alone, as HTTP Basic auth, as SASL PLAIN).
func secretForms(pw string, users ...string) []secretForm {
	forms := []secretForm{
		{"plain", pw},
		{"url-encoded", url.QueryEscape(pw)},
		{"url-encoded", url.PathEscape(pw)},
		{"url-encoded", strings.TrimPrefix(url.UserPassword("u", pw).String(), "u:")},
		{"base64", base64.StdEncoding.EncodeToString([]byte(pw))},
		{"base64", base64.RawStdEncoding.EncodeToString([]byte(pw))},
		{"base64", base64.URLEncoding.EncodeToString([]byte(pw))},
	}
	for _, user := range append(users, "intruder") {
		forms = append(forms,
			secretForm{"base64", base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))},
			secretForm{"base64", base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))})
	}
	return forms
}

// leakSearch adds up what the secrets test searched and found, for
// RELIABILITY.md ($MQCTL_LEAK_OUT); subtests run in parallel.
type leakSearch struct {
	mu    sync.Mutex
	res   reliability.Leak
	forms map[secretForm]bool
}

var leaks = leakSearch{forms: map[secretForm]bool{}}

func (l *leakSearch) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res, l.forms = reliability.Leak{}, map[secretForm]bool{}
}

func (l *leakSearch) ran() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Commands++
}

func (l *leakSearch) searched(file bool, size int, forms []secretForm, hits int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if file {
		l.res.Files++
	} else {
		l.res.Outputs++
	}
	l.res.Bytes += int64(size)
	l.res.Hits += hits
	for _, f := range forms {
		if l.forms[f] {
			continue
		}
		l.forms[f] = true
		switch f.kind {
		case "plain":
			l.res.Plain++
		case "url-encoded":
			l.res.URLEncoded++
		case "base64":
			l.res.Base64++
		}
	}
}

// write appends the figures to $MQCTL_LEAK_OUT when it is set.
func (l *leakSearch) write(t *testing.T) {
	l.mu.Lock()
	r := l.res
	l.mu.Unlock()
	if r.Commands == 0 || r.Outputs == 0 || r.Plain == 0 || r.URLEncoded == 0 || r.Base64 == 0 {
		t.Errorf("the secrets test searched nothing: %+v", r)
	}
	r.Test, r.Passed = t.Name(), !t.Failed()
	t.Logf("searched the output of %d mqctl runs (%d outputs, %d files, %d bytes) for %d plain, %d URL-encoded and %d base64 forms of the passwords: %d hits",
		r.Commands, r.Outputs, r.Files, r.Bytes, r.Plain, r.URLEncoded, r.Base64, r.Hits)
	if path := os.Getenv(reliability.LeakEnv); path != "" {
		if err := reliability.AppendLine(path, r); err != nil {
			t.Errorf("leak figures: %v", err)
		}
	}
}

// withUser is b.url with user:pass@ in it.
func withUser(raw, user, pass string) string {
	i := strings.Index(raw, "://")
	return raw[:i+3] + url.UserPassword(user, pass).String() + "@" + raw[i+3:]
}

// Secrets never appear: each password (secretPW, wordPW) is given through
// the URL, --url, --password, --password-env, --password-file, the config
// file and a management URL, and every command of secretCommands runs
// with -v on each broker; its stdout, stderr and the files it writes must
// hold the password in none of its forms (issue 11, items 11 and 12).
func TestSecretsNeverPrinted(t *testing.T) {
	leaks.reset()
	t.Cleanup(func() { leaks.write(t) })
	if got := broker.ScrubString("a "+wordPW, wordPW); got != "a "+wordPW {
		t.Fatalf("mqctl masks %q as free text (%q): pick a word it leaves, or the test no longer tries the structural rules alone", wordPW, got)
	}
	brokers := map[string]func(t *testing.T, pw string) secretBroker{
		"kafka":    secretKafka,
		"nats":     secretNATS,
		"rabbitmq": secretRabbitMQ,
	}
	for _, pw := range []struct{ name, pw string }{{"random", secretPW}, {"word", wordPW}} {
		t.Run(pw.name, func(t *testing.T) {
			for name, start := range brokers {
				t.Run(name, func(t *testing.T) { secretsNeverPrinted(t, start(t, pw.pw)) })
			}
		})
	}
}

// secretsNeverPrinted is TestSecretsNeverPrinted on one broker with one
// password.
func secretsNeverPrinted(t *testing.T, b secretBroker) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(b.pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type source struct {
		name string
		// add is `context add` for the right (b.user) and the
		// wrong ("intruder") login.
		add func(user string) []string
		// url is --url for every command, "" for none.
		url func(user string) string
		// yaml writes the config file by hand instead.
		yaml bool
		// fileHoldsPW: the config file holds the password by design.
		fileHoldsPW bool
	}
	plain := func(user string, login ...string) []string {
		return append(append([]string{"--url", b.url, "--username", user}, login...), b.addContext...)
	}
	sources := []source{
		{name: "url", add: func(user string) []string {
			return append([]string{"--url", withUser(b.url, user, b.pw)}, b.addContext...)
		}, fileHoldsPW: true},
		{name: "--url flag", add: func(string) []string { return append([]string{"--url", b.url}, b.addContext...) },
			url: func(user string) string { return withUser(b.url, user, b.pw) }},
		{name: "--password", add: func(user string) []string { return plain(user, "--password", b.pw) }, fileHoldsPW: true},
		{name: "--password-env", add: func(user string) []string { return plain(user, "--password-env", "SECRET_TEST_PW") }},
		{name: "--password-file", add: func(user string) []string { return plain(user, "--password-file", pwFile) }},
		{name: "config file", yaml: true, fileHoldsPW: true},
	}
	if b.mgmtURL != "" {
		// The AMQP login is guest's; only the management API gets the password.
		sources = append(sources, source{name: "management url", add: func(user string) []string {
			ctx := []string{"--url", withUser(b.url, "guest", "guest"), "--management-url", withUser(b.mgmtURL, user, b.pw)}
			return ctx
		}, fileHoldsPW: true})
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel() // RabbitMQ takes 3 s to refuse each wrong login
			for _, sc := range secretCommands {
				if src.name == "management url" && sc.wrongLogin && sc.name != "ls refused" {
					continue // only ls uses the management API
				}
				t.Run(sc.name, func(t *testing.T) {
					user := b.user
					if sc.wrongLogin {
						user = "intruder"
					}
					c := newCLI(t)
					c.env = []string{"SECRET_TEST_PW=" + b.pw}
					if src.yaml {
						writeSecretConfig(t, c.config, b, user)
					} else {
						r := c.run(append([]string{"context", "add", "s", "--use"}, src.add(user)...)...)
						leaks.ran()
						checkNoSecret(t, b, "context add", r.stdout, r.stderr)
						if r.code != 0 {
							t.Fatalf("context add: %+v", r)
						}
					}
					dir := t.TempDir()
					args := expandSecretArgs(sc.args, b.args, dir)
					if src.url != nil {
						args = append(args, "-c", "s", "--url", src.url(user))
					}
					r := c.run(args...)
					leaks.ran()
					switch {
					case sc.code == -1 && r.code == 0:
						t.Errorf("mqctl %v: exit 0, want a failure; stderr %q", args, r.stderr)
					case sc.code >= 0 && r.code != sc.code:
						t.Errorf("mqctl %v: exit %d, want %d; stderr %q", args, r.code, sc.code, r.stderr)
					}
					checkNoSecret(t, b, strings.Join(args, " "), r.stdout, r.stderr)
					checkNoSecretInFiles(t, b, dir)
					if !src.fileHoldsPW {
						checkNoSecretInFiles(t, b, filepath.Dir(c.config))
					}
				})
			}
		})
	}
}

func expandSecretArgs(args []string, repl map[string][]string, dir string) []string {
	var out []string
	for _, a := range args {
		if r, ok := repl[a]; ok {
			out = append(out, r...)
			continue
		}
		out = append(out, strings.ReplaceAll(a, "{dir}", dir))
	}
	return out
}

// writeSecretConfig writes a contexts file by hand with the password inline.
func writeSecretConfig(t *testing.T, path string, b secretBroker, user string) {
	t.Helper()
	var extra strings.Builder
	for i := 0; i+1 < len(b.addContext); i += 2 {
		key := strings.ReplaceAll(strings.TrimPrefix(b.addContext[i], "--"), "-", "_")
		fmt.Fprintf(&extra, "  %s: %q\n", key, b.addContext[i+1])
	}
	yaml := fmt.Sprintf("current_context: s\ncontexts:\n- name: s\n  url: %q\n  username: %q\n  password: %q\n%s",
		b.url, user, b.pw, extra.String())
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkNoSecret fails t when any of texts holds b.pw in one of its
// forms; b.user is the name it goes with (Basic auth, SASL PLAIN).
func checkNoSecret(t *testing.T, b secretBroker, what string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		searchSecret(t, b, what, false, text)
	}
}

// searchSecret fails t for each form of b.pw in text, and counts the
// search in leaks.
func searchSecret(t *testing.T, b secretBroker, what string, file bool, text string) {
	t.Helper()
	forms := secretForms(b.pw, b.user)
	hits := 0
	for _, form := range forms {
		if n := strings.Count(text, form.text); n > 0 {
			hits += n
			i := strings.Index(text, form.text)
			t.Errorf("%s: the password (as %q, %s) is in its output %d times: …%s…", what, form.text, form.kind, n, text[max(0, i-80):min(len(text), i+len(form.text)+40)])
		}
	}
	leaks.searched(file, len(text), forms, hits)
}

func checkNoSecretInFiles(t *testing.T, b secretBroker, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		searchSecret(t, b, "file "+path, true, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func secretKafka(t *testing.T, pw string) secretBroker {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", pw),
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...),
		kgo.SASL(scram.Auth{User: "ops", Pass: pw}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "secrets"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secrets", Value: []byte("m")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return secretBroker{
		name: "kafka", user: "ops", pw: pw, url: k.URL, addContext: []string{"--sasl", "SCRAM-SHA-256"},
		args: map[string][]string{
			"{produce-to}": {"secrets"}, "{consume-from}": {"secrets"},
			"{missing}": {"no-such-topic"}, "{missing-produce}": {"no-such-topic", "--partition", "7"},
		},
	}
}

func secretNATS(t *testing.T, pw string) secretBroker {
	n := testenv.NATS(t, sandbox.NATSOptions{Configure: func(o *server.Options) {
		o.Username, o.Password = "ops", pw
	}})
	nc, err := nats.Connect(n.URL, nats.UserInfo("ops", pw))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SECRETS", Subjects: []string{"secrets.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "secrets.x", []byte("m")); err != nil {
		t.Fatal(err)
	}
	return secretBroker{
		name: "nats", user: "ops", pw: pw, url: n.URL,
		args: map[string][]string{
			"{produce-to}": {"secrets.x"}, "{consume-from}": {"SECRETS"},
			"{missing}": {"NO_SUCH_STREAM"}, "{missing-produce}": {"no.stream.here"},
		},
	}
}

func secretRabbitMQ(t *testing.T, pw string) secretBroker {
	rmq := testenv.RabbitMQ(t)
	vhost := rmq.NewVHost(t)
	ep, err := broker.ParseEndpoint(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	// A user of this test alone: tests of other packages share the node.
	user := testenv.UniqueName(t, "ops")
	rmq.MustCall(t, http.MethodPut, "/api/users/"+user, map[string]string{"password": pw, "tags": "management"}, nil)
	t.Cleanup(func() { _ = rmq.Call(http.MethodDelete, "/api/users/"+user, nil, nil) })
	rmq.MustCall(t, http.MethodPut, "/api/permissions/"+vhost+"/"+user,
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}, nil)
	amqpURL := fmt.Sprintf("amqp://%s/%s", ep.Hosts[0], url.PathEscape(vhost))
	queue := testenv.UniqueName(t, "secrets")
	conn, err := amqp.Dial(withUser(amqpURL, "guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// Enough for every consume of the test: a queue gives each message once.
	for range 50 {
		if err := ch.Publish("", queue, false, false, amqp.Publishing{Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	return secretBroker{
		name: "rabbitmq", user: user, pw: pw, url: amqpURL, mgmtURL: rmq.APIURL,
		addContext: []string{"--management-url", rmq.APIURL},
		args: map[string][]string{
			"{produce-to}": {"--queue", queue}, "{consume-from}": {queue},
			"{missing}": {"no-such-queue"}, "{missing-produce}": {"no-such-exchange", "--routing-key", "x"},
		},
	}
}

// A password that is a plain word is masked where a password goes, never
// where the word is a name: a context named rmq-guest, a user guest-…, a
// vhost and a queue print intact in `context ls` and in errors, while the
// URL's password still prints as xxxxx. Masking the names would garble
// them and tell the reader the password ("rmq-xxxxx").
func TestWordPasswordKeepsNames(t *testing.T) {
	const pw = "guest"
	rmq := testenv.RabbitMQ(t)
	ep, err := broker.ParseEndpoint(rmq.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	user := testenv.UniqueName(t, "guest")
	rmq.MustCall(t, http.MethodPut, "/api/users/"+user, map[string]string{"password": pw, "tags": ""}, nil)
	t.Cleanup(func() { _ = rmq.Call(http.MethodDelete, "/api/users/"+user, nil, nil) })
	vhost := rmq.NewVHost(t)
	rmq.MustCall(t, http.MethodPut, "/api/permissions/"+vhost+"/"+user,
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}, nil)
	rawURL := fmt.Sprintf("amqp://%s/%s", ep.Hosts[0], url.PathEscape(vhost))
	shown := withUser(rawURL, user, "xxxxx")

	c := newCLI(t)
	if r := c.run("context", "add", "rmq-guest", "--use", "--read-only", "--url", withUser(rawURL, user, pw)); r.code != 0 {
		t.Fatalf("context add: %+v", r)
	}
	queue := "guest-orders"
	runs := []struct {
		args []string
		code int
		// want are the lines stdout and stderr must hold, names intact.
		want []string
	}{
		{[]string{"context", "ls"}, 0, []string{"rmq-guest\t" + shown + "\ttrue"}},
		{[]string{"context", "show", "-v"}, 0, []string{"name: rmq-guest", "url: " + shown}},
		{[]string{"produce", "--queue", queue, "-v"}, 2, []string{
			"connecting to " + shown,
			`context "rmq-guest" is read-only: produce refused`,
		}},
		{[]string{"consume", queue, "-n", "1", "--ack", "none", "-v"}, 5, []string{"connecting to " + shown, `queue "` + queue + `" does not exist`}},
	}
	for _, run := range runs {
		r := c.runIn([]byte("m\n"), run.args...)
		out := r.stdout + r.stderr
		if r.code != run.code {
			t.Errorf("mqctl %v: exit %d, want %d; output %q", run.args, r.code, run.code, out)
		}
		for _, w := range run.want {
			if !strings.Contains(out, w) {
				t.Errorf("mqctl %v: output lacks %q:\n%s", run.args, w, out)
			}
		}
		// The password where it is one: in the URL, and base64 alone or
		// with the user (HTTP Basic, SASL PLAIN).
		for _, form := range []string{":" + pw + "@", base64.StdEncoding.EncodeToString([]byte(pw)),
			base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)), "xxxxx-", "-xxxxx"} {
			if strings.Contains(out, form) {
				t.Errorf("mqctl %v: output holds %q:\n%s", run.args, form, out)
			}
		}
	}
}

// A URL that does not parse, or names no broker that answers, is quoted
// in errors and -v logs with its user info masked by structure: with a
// password that is a plain word nothing else would mask it.
func TestWordPasswordInBadURLs(t *testing.T) {
	for _, raw := range []string{
		"ops:sesame@h", "amqp:/ops:sesame@h", "amqp://ops:sesame@h:99999", "amqp://ops:ses ame@h",
		"amqp://ops:sesame@", "foo://ops:sesame@h", "amqp://ops:sesame@h/%zz", "amqp://ops%zz:sesame@h",
		"amqp://ops:se%sesame@h", "amqp://ops:sesame@[::1", "http://ops:sesame@h", "amqp://ops:sesame@h:1/?x=%zz",
		"amqp://h:1/?password=sesame", "nats://sesame@127.0.0.1:1", "nats://ops:sesame@127.0.0.1:1,127.0.0.1:2",
		"kafka://ops:sesame@127.0.0.1:1",
	} {
		c := newCLI(t)
		for _, args := range [][]string{
			{"context", "add", "z", "--url", raw},
			{"ls", "-v", "--timeout", "2s", "--url", raw},
			{"context", "add", "m", "--url", "amqp://h/", "--management-url", strings.Replace(raw, "amqp", "http", 1)},
		} {
			r := c.run(args...)
			for _, form := range []string{wordPW, base64.StdEncoding.EncodeToString([]byte(wordPW))} {
				if strings.Contains(r.stdout+r.stderr, form) {
					t.Errorf("mqctl %q: output holds %q:\n%s%s", args, form, r.stdout, r.stderr)
				}
			}
		}
	}
}
