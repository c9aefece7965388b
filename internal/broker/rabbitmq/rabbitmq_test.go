package rabbitmq

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// withCreds returns rawURL with its user and password replaced and its
// path set to the escaped vhost.
func withCreds(t *testing.T, rawURL, user, pass, vhostPath string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)
	if pass == "" {
		u.User = url.User(user) // "user:@" is refused as an empty password
	}
	return u.Scheme + "://" + u.User.String() + "@" + u.Host + "/" + vhostPath
}

// newVHost creates a vhost the test user may use, removed when t ends.
func newVHost(t *testing.T, env *testenv.RabbitMQEnv) string { return env.NewVHost(t) }

func open(t *testing.T, target broker.Target) *Conn {
	t.Helper()
	if target.Timeout == 0 {
		target.Timeout = 10 * time.Second
	}
	c, err := broker.Open(context.Background(), target)
	if err != nil {
		t.Fatalf("open %s: %v", target.Redacted(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Conn)
}

func TestOpen(t *testing.T) {
	env := testenv.RabbitMQ(t)
	u, _ := url.Parse(env.AMQPURL)
	user := u.User.Username()
	pass, _ := u.User.Password()
	const secret = "s3cr3t-Wr0ng-pw"

	// A user that exists but may not use the vhost "/".
	lonely := testenv.UniqueName(t, "lonely")
	env.MustCall(t, http.MethodPut, "/api/users/"+lonely, map[string]string{"password": secret, "tags": ""}, nil)
	t.Cleanup(func() { _ = env.Call(http.MethodDelete, "/api/users/"+lonely, nil, nil) })

	// A port that accepts TCP but never speaks AMQP: the handshake must
	// still end at the deadline.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	api, _ := url.Parse(env.APIURL)
	apiHost := api.Host

	tests := []struct {
		name      string
		target    broker.Target
		wantKind  mqerr.Kind
		wantVHost string
		wantText  string
	}{
		{name: "guest", target: broker.Target{URL: withCreds(t, env.AMQPURL, user, pass, "")}, wantVHost: "/"},
		{name: "escaped slash vhost", target: broker.Target{URL: withCreds(t, env.AMQPURL, user, pass, "%2f")}, wantVHost: "/"},
		{
			name:      "target password overrides the URL's",
			target:    broker.Target{URL: withCreds(t, env.AMQPURL, user, secret, ""), Password: pass},
			wantVHost: "/",
		},
		{
			name:     "wrong password",
			target:   broker.Target{URL: withCreds(t, env.AMQPURL, user, secret, "")},
			wantKind: mqerr.Auth, wantText: `refused user "` + user + `"`,
		},
		{
			name:     "wrong target password",
			target:   broker.Target{URL: withCreds(t, env.AMQPURL, user, "", ""), Password: secret},
			wantKind: mqerr.Auth, wantText: `refused user "` + user + `"`,
		},
		{
			name:     "unknown vhost",
			target:   broker.Target{URL: withCreds(t, env.AMQPURL, user, pass, "no-such-vhost")},
			wantKind: mqerr.NotFound, wantText: `vhost "no-such-vhost" not found`,
		},
		{
			name:     "vhost the user may not use",
			target:   broker.Target{URL: withCreds(t, env.AMQPURL, lonely, secret, "%2f")},
			wantKind: mqerr.Auth, wantText: `user "` + lonely + `" has no access to vhost "/"`,
		},
		{
			name:     "nothing listening",
			target:   broker.Target{URL: "amqp://guest:" + secret + "@127.0.0.1:1/", Timeout: 2 * time.Second},
			wantKind: mqerr.Unreachable, wantText: "cannot reach rabbitmq at 127.0.0.1:1: connection refused",
		},
		{
			name:     "not an AMQP port",
			target:   broker.Target{URL: "amqp://guest:" + secret + "@" + apiHost + "/"},
			wantKind: mqerr.Unreachable, wantText: "cannot reach rabbitmq at " + apiHost + ": the connection broke during the AMQP handshake",
		},
		{
			name:     "silent server",
			target:   broker.Target{URL: "amqp://guest:" + secret + "@" + silent.Addr().String() + "/", Timeout: time.Second},
			wantKind: mqerr.Unreachable, wantText: "cannot reach rabbitmq at " + silent.Addr().String() + " within 1s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := tt.target.Timeout
			if timeout == 0 {
				timeout = 10 * time.Second
				tt.target.Timeout = timeout
			}
			start := time.Now()
			c, err := broker.Open(context.Background(), tt.target)
			if took := time.Since(start); took > testenv.Deadline(timeout) {
				t.Errorf("Open took %v, past its %v timeout", took, timeout)
			}
			if tt.wantKind == mqerr.Failure && tt.wantText == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer c.Close()
				rc := c.(*Conn)
				if rc.Broker() != "rabbitmq" || rc.VHost() != tt.wantVHost {
					t.Fatalf("Broker()=%q VHost()=%q, want rabbitmq %q", rc.Broker(), rc.VHost(), tt.wantVHost)
				}
				ch, err := rc.AMQP().Channel()
				if err != nil {
					t.Fatalf("channel on an open connection: %v", err)
				}
				ch.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind %v, want %v (%v)", got, tt.wantKind, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), secret) || strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error leaks the password or is not one line: %q", err)
			}
		})
	}
}

// TestOpenTriesEachHost: a dead first host of a cluster URL does not stop
// the connection to the next.
func TestOpenTriesEachHost(t *testing.T) {
	env := testenv.RabbitMQ(t)
	u, _ := url.Parse(env.AMQPURL)
	pass, _ := u.User.Password()
	c := open(t, broker.Target{URL: "amqp://" + u.User.Username() + ":" + pass + "@127.0.0.1:1," + u.Host + "/"})
	if c.Addr() != u.Host {
		t.Fatalf("connected to %s, want %s", c.Addr(), u.Host)
	}
}

func TestClassify(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		wantKind mqerr.Kind
		want     string
		heard    bool
	}{
		{name: "refused", err: refused, wantKind: mqerr.Unreachable, want: "cannot reach rabbitmq at h:5672: connection refused"},
		{name: "deadline", ctx: expired, err: refused, wantKind: mqerr.Unreachable, want: "cannot reach rabbitmq at h:5672 within 2s: connection refused"},
		{name: "interrupted", ctx: canceled, err: refused, wantKind: mqerr.Interrupted, want: "interrupted"},
		{name: "bad credentials", err: amqp.ErrCredentials, wantKind: mqerr.Auth, want: `refused user "u"`},
		{name: "refused after the deadline", ctx: expired, heard: true, err: amqp.ErrCredentials, wantKind: mqerr.Auth, want: `refused user "u"`},
		{name: "no verdict before the deadline", ctx: expired, err: amqp.ErrCredentials, wantKind: mqerr.Unreachable, want: "within 2s"},
		{name: "vhost access, socket closed", err: amqp.ErrVhost, wantKind: mqerr.Auth, want: `user "u" has no access to vhost "v"`},
		{
			name:     "connection limit",
			err:      &amqp.Error{Code: amqp.NotAllowed, Reason: "NOT_ALLOWED - connection limit (1) is reached", Server: true},
			wantKind: mqerr.Failure, want: `did not open vhost "v": NOT_ALLOWED - connection limit`,
		},
		{
			name:     "handshake broken",
			err:      &amqp.Error{Code: amqp.FrameError, Reason: "EOF"},
			wantKind: mqerr.Unreachable, want: "the connection broke during the AMQP handshake (EOF)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := classify(ctx, tt.err, "h:5672", "v", "u", 2*time.Second, tt.heard)
			if mqerr.KindOf(err) != tt.wantKind || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (kind %v), want kind %v saying %q", err, mqerr.KindOf(err), tt.wantKind, tt.want)
			}
		})
	}
}

func TestResolveCredentials(t *testing.T) {
	cert := broker.TLSOptions{CertFile: "c.pem", KeyFile: "k.pem"}
	tests := []struct {
		name   string
		target broker.Target
		tls    bool
		want   credentials
	}{
		{name: "none given", target: broker.Target{URL: "amqp://h/"}, want: credentials{user: "guest", pass: "guest"}},
		{name: "from the URL", target: broker.Target{URL: "amqp://u:p@h/"}, want: credentials{user: "u", pass: "p"}},
		{name: "target overrides", target: broker.Target{URL: "amqp://u:p@h/", Username: "v", Password: "q"}, want: credentials{user: "v", pass: "q"}},
		{name: "target password only", target: broker.Target{URL: "amqp://u:p@h/", Password: "q"}, want: credentials{user: "u", pass: "q"}},
		{name: "user without password", target: broker.Target{URL: "amqp://u@h/"}, want: credentials{user: "u"}},
		{name: "client certificate", target: broker.Target{URL: "amqps://h/", TLS: cert}, tls: true, want: credentials{external: true}},
		{name: "client certificate and password", target: broker.Target{URL: "amqps://u:p@h/", TLS: cert}, tls: true, want: credentials{user: "u", pass: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := broker.ParseEndpoint(tt.target.URL)
			if err != nil {
				t.Fatal(err)
			}
			if got := resolveCredentials(ep, tt.target, tt.tls); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewManagement(t *testing.T) {
	tests := []struct {
		name     string
		target   broker.Target
		tls      bool
		cred     credentials
		wantBase string
		wantUser string
		wantPass string
		wantKind mqerr.Kind
	}{
		{
			name:     "derived from amqp",
			target:   broker.Target{URL: "amqp://u:p@rabbit.example:5672/"},
			cred:     credentials{user: "u", pass: "p"},
			wantBase: "http://rabbit.example:15672", wantUser: "u", wantPass: "p",
		},
		{
			name:     "derived from amqps",
			target:   broker.Target{URL: "amqps://u:p@rabbit.example:5671/"},
			tls:      true,
			cred:     credentials{user: "u", pass: "p"},
			wantBase: "https://rabbit.example:15671", wantUser: "u", wantPass: "p",
		},
		{
			name:     "explicit URL with its own credentials and a prefix",
			target:   broker.Target{URL: "amqp://u:p@h/", ManagementURL: "https://admin:pw@proxy.example/rabbitmq/"},
			cred:     credentials{user: "u", pass: "p"},
			wantBase: "https://proxy.example/rabbitmq", wantUser: "admin", wantPass: "pw",
		},
		{
			name:     "client certificate login sends no password",
			target:   broker.Target{URL: "amqps://h/"},
			tls:      true,
			cred:     credentials{external: true},
			wantBase: "https://h:15671",
		},
		{
			name:     "not http",
			target:   broker.Target{URL: "amqp://h/", ManagementURL: "ftp://u:secretpw@h"},
			wantKind: mqerr.Usage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := broker.ParseEndpoint(tt.target.URL)
			if err != nil {
				t.Fatal(err)
			}
			port := "5672"
			if tt.tls {
				port = "5671"
			}
			m, err := newManagement(tt.target, tt.tls, ep.HostsWithPort(port)[0], tt.cred)
			if tt.wantKind != mqerr.Failure {
				if mqerr.KindOf(err) != tt.wantKind || strings.Contains(err.Error(), "secretpw") {
					t.Fatalf("error %v, want kind %v without the password", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.URL() != tt.wantBase || m.user != tt.wantUser || m.pass != tt.wantPass {
				t.Fatalf("base %q user %q pass %q, want %q %q %q", m.URL(), m.user, m.pass, tt.wantBase, tt.wantUser, tt.wantPass)
			}
		})
	}
}

func TestTLSConfigRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts broker.TLSOptions
		want string
	}{
		{name: "missing CA", opts: broker.TLSOptions{CAFile: dir + "/nope.pem"}, want: "TLS CA file"},
		{name: "cert without key", opts: broker.TLSOptions{CertFile: dir + "/c.pem"}, want: "both the cert file and the key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsConfig(tt.opts)
			if !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}

// declare declares queue on a fresh channel of c.
func declare(t *testing.T, c *Conn, queue string, args amqp.Table) {
	t.Helper()
	ch, err := c.AMQP().Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatalf("declare %s: %v", queue, err)
	}
}
