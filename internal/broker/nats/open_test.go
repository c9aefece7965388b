package nats

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestRegistered(t *testing.T) {
	schemes := broker.Schemes()
	for _, s := range []string{"nats", "tls"} {
		if !slices.Contains(schemes, s) {
			t.Errorf("scheme %q not registered; have %v", s, schemes)
		}
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, err := broker.Open(context.Background(), broker.Target{URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer conn.Close()
	if got := conn.Broker(); got != "nats" {
		t.Errorf("Broker() = %q, want nats", got)
	}
	c, ok := conn.(*Conn)
	if !ok {
		t.Fatalf("Open returned %T, want *Conn", conn)
	}
	if !c.NATS().IsConnected() {
		t.Error("connection not connected")
	}
	if got := c.NATS().Opts.Name; got != "mqctl" {
		t.Errorf("connection name = %q, want mqctl", got)
	}
	if _, err := broker.As[broker.Lister](conn, "listing"); err != nil {
		t.Errorf("not a Lister: %v", err)
	}
}

func TestOpenAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := writeFile(t, "user.nk", seed)
	stranger, _ := nkeys.CreateUser()
	strangerSeed, _ := stranger.Seed()
	strangerFile := writeFile(t, "stranger.nk", strangerSeed)

	userPass := func(o *server.Options) { o.Username, o.Password = "alice", "s3cret-pass" }
	token := func(o *server.Options) { o.Authorization = "s3cret-token" }
	nkey := func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} }

	tests := []struct {
		name      string
		configure func(*server.Options)
		target    func(url string) broker.Target
		wantErr   bool
		wantKind  mqerr.Kind
		secrets   []string
	}{
		{
			name:      "user and password",
			configure: userPass,
			target: func(u string) broker.Target {
				return broker.Target{URL: u, Username: "alice", Password: "s3cret-pass"}
			},
		},
		{
			name:      "user and password in URL",
			configure: userPass,
			target:    func(u string) broker.Target { return broker.Target{URL: withUserInfo(u, "alice:s3cret-pass")} },
		},
		{
			name:      "target password for URL user",
			configure: userPass,
			target: func(u string) broker.Target {
				return broker.Target{URL: withUserInfo(u, "alice"), Password: "s3cret-pass"}
			},
		},
		{
			name:      "wrong password",
			configure: userPass,
			target: func(u string) broker.Target {
				return broker.Target{URL: u, Username: "alice", Password: "wrong-pass-123"}
			},
			wantErr:  true,
			wantKind: mqerr.Auth,
			secrets:  []string{"wrong-pass-123", "s3cret-pass"},
		},
		{
			name:      "wrong password in URL",
			configure: userPass,
			target:    func(u string) broker.Target { return broker.Target{URL: withUserInfo(u, "alice:wrong-pass-123")} },
			wantErr:   true,
			wantKind:  mqerr.Auth,
			secrets:   []string{"wrong-pass-123"},
		},
		{
			name:      "no credentials",
			configure: userPass,
			target:    func(u string) broker.Target { return broker.Target{URL: u} },
			wantErr:   true,
			wantKind:  mqerr.Auth,
		},
		{
			name:      "token",
			configure: token,
			target:    func(u string) broker.Target { return broker.Target{URL: u, Token: "s3cret-token"} },
		},
		{
			name:      "token as URL user",
			configure: token,
			target:    func(u string) broker.Target { return broker.Target{URL: withUserInfo(u, "s3cret-token")} },
		},
		{
			name:      "wrong token",
			configure: token,
			target:    func(u string) broker.Target { return broker.Target{URL: u, Token: "wrong-token-123"} },
			wantErr:   true,
			wantKind:  mqerr.Auth,
			secrets:   []string{"wrong-token-123"},
		},
		{
			name:      "wrong token as URL user",
			configure: token,
			target:    func(u string) broker.Target { return broker.Target{URL: withUserInfo(u, "wrong-token-123")} },
			wantErr:   true,
			wantKind:  mqerr.Auth,
			secrets:   []string{"wrong-token-123"},
		},
		{
			name:      "nkey seed file",
			configure: nkey,
			target:    func(u string) broker.Target { return broker.Target{URL: u, NKeyFile: seedFile} },
		},
		{
			name:      "unknown nkey",
			configure: nkey,
			target:    func(u string) broker.Target { return broker.Target{URL: u, NKeyFile: strangerFile} },
			wantErr:   true,
			wantKind:  mqerr.Auth,
			secrets:   []string{string(strangerSeed)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{Configure: tt.configure})
			conn, err := openDirect(t, tt.target(srv.URL), 5*time.Second)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				// A round trip proves the server accepted the connection.
				if err := conn.NATS().Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "nats://")) {
				t.Errorf("error %q does not name the server", err)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q leaks secret %q", err, s)
				}
			}
		})
	}
}

func TestOpenSeveralServers(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	live := strings.TrimPrefix(srv.URL, "nats://")

	t.Run("first refuses", func(t *testing.T) {
		conn, err := openDirect(t, broker.Target{URL: "nats://" + deadAddr(t) + "," + live}, 2*time.Second)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := conn.NATS().ConnectedAddr(); got != live {
			t.Errorf("connected to %q, want %q", got, live)
		}
	})

	t.Run("first stalls", func(t *testing.T) {
		// nats.go shuffles the servers: open until the stalling one was
		// tried, so the test proves it cannot use up the whole budget.
		stall := newStalling(t)
		for i := 0; stall.accepted.Load() == 0; i++ {
			if i == 30 {
				t.Fatal("the stalling server was never tried")
			}
			conn, err := openDirect(t, broker.Target{URL: "nats://" + stall.addr + "," + live}, 2*time.Second)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := conn.NATS().ConnectedAddr(); got != live {
				t.Errorf("connected to %q, want %q", got, live)
			}
			conn.Close()
		}
	})
}

func TestOpenUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		addrs   func(t *testing.T) string
		timeout time.Duration
		reason  string
	}{
		{"refused", deadAddr, 2 * time.Second, "connection refused"},
		{"stalled handshake", stallingAddr, time.Second, "timed out"},
		{"all of several", func(t *testing.T) string { return stallingAddr(t) + "," + deadAddr(t) }, time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := tt.addrs(t)
			start := time.Now()
			_, err := broker.Open(context.Background(), broker.Target{URL: "nats://" + addrs, Timeout: tt.timeout})
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			if elapsed > testenv.Deadline(tt.timeout) {
				t.Errorf("Open took %v, want at most %v", elapsed, testenv.Deadline(tt.timeout))
			}
			if !mqerr.Is(err, mqerr.Unreachable) {
				t.Errorf("kind = %v, want Unreachable (err: %v)", mqerr.KindOf(err), err)
			}
			want := "cannot reach nats at " + addrs + " within " + tt.timeout.String() + ": " + tt.reason
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error = %q, want prefix %q", err, want)
			}
		})
	}
}

func TestOpenInterrupted(t *testing.T) {
	addr := stallingAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := driver{}.Open(ctx, broker.Target{URL: "nats://" + addr, Timeout: 10 * time.Second})
	if !mqerr.Is(err, mqerr.Interrupted) {
		t.Errorf("kind = %v, want Interrupted (err: %v)", mqerr.KindOf(err), err)
	}
	if elapsed := time.Since(start); elapsed > testenv.Deadline(0) {
		t.Errorf("Open took %v after cancel", elapsed)
	}
}

func TestOpenTLS(t *testing.T) {
	ca := testenv.NewPKI(t)
	other := testenv.NewPKI(t)
	withTLS := func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
		o.TLSTimeout = 2
	}
	tests := []struct {
		name      string
		configure func(*server.Options)
		target    func(url string) broker.Target
		wantErr   bool
		wantKind  mqerr.Kind
		wantText  string
	}{
		{
			name:      "tls scheme with CA",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{CAFile: ca.CAFile}}
			},
		},
		{
			name:      "nats scheme with CA file",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: u, TLS: broker.TLSOptions{CAFile: ca.CAFile}}
			},
		},
		{
			name:      "server name from options",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{CAFile: ca.CAFile, ServerName: "localhost"}}
			},
		},
		{
			name:      "insecure skip verify",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{InsecureSkipVerify: true}}
			},
		},
		{
			name:      "no CA",
			configure: withTLS,
			target:    func(u string) broker.Target { return broker.Target{URL: withScheme(u, "tls")} },
			wantErr:   true,
			wantKind:  mqerr.Failure,
			wantText:  "TLS verification of nats at",
		},
		{
			name:      "server requires TLS, URL does not ask",
			configure: withTLS,
			target:    func(u string) broker.Target { return broker.Target{URL: u} },
			wantErr:   true,
			wantKind:  mqerr.Failure,
			wantText:  "TLS verification of nats at",
		},
		{
			name:      "wrong CA",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{CAFile: other.CAFile}}
			},
			wantErr:  true,
			wantKind: mqerr.Failure,
			wantText: "TLS verification of nats at",
		},
		{
			name:      "wrong server name",
			configure: withTLS,
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{CAFile: ca.CAFile, ServerName: "elsewhere.example"}}
			},
			wantErr:  true,
			wantKind: mqerr.Failure,
			wantText: "elsewhere.example",
		},
		{
			name:      "server without TLS",
			configure: func(*server.Options) {},
			target: func(u string) broker.Target {
				return broker.Target{URL: withScheme(u, "tls"), TLS: broker.TLSOptions{CAFile: ca.CAFile}}
			},
			wantErr:  true,
			wantKind: mqerr.Failure,
			wantText: "does not offer TLS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t, sandbox.NATSOptions{Configure: tt.configure})
			conn, err := openDirect(t, tt.target(srv.URL), 5*time.Second)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if _, err := conn.NATS().TLSConnectionState(); err != nil {
					t.Errorf("connection is not TLS: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func TestOpenBadOptions(t *testing.T) {
	dir := t.TempDir()
	missing := dir + "/nope.creds"
	garbage := writeFile(t, "garbage.creds", []byte("not a credentials file"))
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	seedFile := writeFile(t, "user.nk", seed)
	account, _ := nkeys.CreateAccount()
	accountSeed, _ := account.Seed()
	accountFile := writeFile(t, "account.nk", accountSeed)

	tests := []struct {
		name     string
		target   broker.Target
		wantText string
	}{
		{"missing creds file", broker.Target{CredsFile: missing}, missing},
		{"malformed creds file", broker.Target{CredsFile: garbage}, garbage},
		{"missing nkey file", broker.Target{NKeyFile: dir + "/nope.nk"}, dir + "/nope.nk"},
		{"account seed is not a user seed", broker.Target{NKeyFile: accountFile}, accountFile},
		{"creds and nkey together", broker.Target{CredsFile: garbage, NKeyFile: seedFile}, "not both"},
		{"missing CA file", broker.Target{TLS: broker.TLSOptions{CAFile: dir + "/ca.pem"}}, dir + "/ca.pem"},
		{"CA file without PEM", broker.Target{TLS: broker.TLSOptions{CAFile: garbage}}, garbage},
		{"cert without key", broker.Target{TLS: broker.TLSOptions{CertFile: garbage}}, "key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing listens: options must be checked before connecting.
			tt.target.URL = "nats://" + deadAddr(t)
			_, err := openDirect(t, tt.target, 2*time.Second)
			if !mqerr.Is(err, mqerr.Usage) {
				t.Fatalf("kind = %v, want Usage (err: %v)", mqerr.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), string(accountSeed)) || strings.Contains(err.Error(), string(seed)) {
				t.Errorf("error %q leaks a seed", err)
			}
		})
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	srv := testenv.NATS(t, sandbox.NATSOptions{})
	conn, err := openDirect(t, broker.Target{URL: srv.URL}, 5*time.Second)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for conn.NATS().Stats().Reconnects == 0 || !conn.NATS().IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect after restart; status %v", conn.NATS().Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.List(ctx, broker.ListQuery{}); err != nil {
		t.Errorf("List after reconnect: %v", err)
	}
}
