package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// open calls the driver directly (not the registry), so the tests see its
// own error text before broker.Open's last-resort scrubbing.
func open(t *testing.T, tgt broker.Target) (*Conn, error) {
	t.Helper()
	conn, err := driver{}.Open(context.Background(), tgt)
	if err != nil {
		return nil, err
	}
	c := conn.(*Conn)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// noError marks table cases that must succeed.
const noError = mqerr.Kind(-1)

func TestOpenThroughRegistry(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{})
	conn, err := broker.Open(context.Background(), broker.Target{URL: k.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("broker.Open: %v", err)
	}
	defer conn.Close()
	if conn.Broker() != "kafka" {
		t.Errorf("Broker() = %q, want kafka", conn.Broker())
	}
	c, ok := conn.(*Conn)
	if !ok {
		t.Fatalf("broker.Open returned %T, want *kafka.Conn", conn)
	}
	brokers, err := c.Admin().ListBrokers(context.Background())
	if err != nil || len(brokers) != 1 {
		t.Fatalf("Admin().ListBrokers = %v, %v; want one broker", brokers, err)
	}
	if c.Client() == nil {
		t.Error("Client() is nil")
	}
}

func TestOpenMultipleSeeds(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Brokers: 3})
	dead := closedPort(t)
	tests := []struct {
		name string
		url  string
	}{
		{"all three seeds", k.URL},
		// A dead first seed must not stop the client from using the others.
		{"dead first seed", "kafka://" + dead + "," + strings.Join(k.Addrs(), ",")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := open(t, broker.Target{URL: tt.url, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Open(%s): %v", tt.url, err)
			}
			md, err := c.Admin().BrokerMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Brokers) != 3 {
				t.Errorf("metadata names %d brokers, want 3", len(md.Brokers))
			}
		})
	}
}

func TestOpenSASL(t *testing.T) {
	const (
		plainPass = "plain-Secret-1"
		scramPass = "scram-Secret-2"
		wrongPass = "wrong-Secret-3"
	)
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "alice", plainPass),
		kfake.Superuser("SCRAM-SHA-256", "bob", scramPass),
		kfake.Superuser("SCRAM-SHA-512", "carol", scramPass),
	}})
	addr := k.Addrs()[0]
	tests := []struct {
		name     string
		target   broker.Target
		wantKind mqerr.Kind
	}{
		{"plain", broker.Target{URL: "kafka://" + addr, SASL: "PLAIN", Username: "alice", Password: plainPass}, noError},
		{"scram-sha-256", broker.Target{URL: "kafka://" + addr, SASL: "SCRAM-SHA-256", Username: "bob", Password: scramPass}, noError},
		{"scram-sha-512 lower case", broker.Target{URL: "kafka://" + addr, SASL: "scram-sha-512", Username: "carol", Password: scramPass}, noError},
		{"credentials from URL", broker.Target{URL: "kafka://alice:" + plainPass + "@" + addr, SASL: "PLAIN"}, noError},
		{"plain wrong password", broker.Target{URL: "kafka://" + addr, SASL: "PLAIN", Username: "alice", Password: wrongPass}, mqerr.Auth},
		{"scram wrong password", broker.Target{URL: "kafka://" + addr, SASL: "SCRAM-SHA-256", Username: "bob", Password: wrongPass}, mqerr.Auth},
		{"wrong password in URL", broker.Target{URL: "kafka://alice:" + wrongPass + "@" + addr, SASL: "PLAIN"}, mqerr.Auth},
		{"unknown user", broker.Target{URL: "kafka://" + addr, SASL: "SCRAM-SHA-256", Username: "mallory", Password: wrongPass}, mqerr.Auth},
		{"unknown mechanism", broker.Target{URL: "kafka://" + addr, SASL: "GSSAPI", Username: "alice", Password: wrongPass}, mqerr.Usage},
		// Without SASL the broker just hangs up; kgo's guess says why.
		{"no SASL against a SASL broker", broker.Target{URL: "kafka://" + addr}, mqerr.Failure},
		{"mechanism without user", broker.Target{URL: "kafka://" + addr, SASL: "PLAIN"}, mqerr.Usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.Timeout = 3 * time.Second
			start := time.Now()
			c, err := open(t, tt.target)
			if tt.wantKind == noError {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if _, err := c.List(context.Background(), broker.ListQuery{}); err != nil {
					t.Fatalf("List after SASL login: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want %v error", tt.wantKind)
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			for _, secret := range []string{wrongPass, plainPass, scramPass} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a password: %v", err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if elapsed := time.Since(start); elapsed > testenv.Deadline(tt.target.Timeout) {
				t.Errorf("Open took %v, past its %v timeout", elapsed, tt.target.Timeout)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	refused := closedPort(t)
	silent := silentListener(t)
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
	}{
		{"refused", "kafka://" + refused, 2 * time.Second},
		{"refused, several seeds", "kafka://" + refused + "," + closedPort(t), 2 * time.Second},
		// Accepts TCP but never answers: only the deadline can end this.
		{"silent", "kafka://" + silent, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := open(t, broker.Target{URL: tt.url, Timeout: tt.timeout})
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("Open succeeded against a dead address")
			}
			if !mqerr.Is(err, mqerr.Unreachable) {
				t.Errorf("kind = %v, want Unreachable (err: %v)", mqerr.KindOf(err), err)
			}
			want := "cannot reach kafka at " + strings.TrimPrefix(tt.url, "kafka://") + " within " + tt.timeout.String()
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error = %q, want prefix %q", err, want)
			}
			if elapsed > testenv.Deadline(tt.timeout) {
				t.Errorf("Open took %v, want at most %v", elapsed, testenv.Deadline(tt.timeout))
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		})
	}
}

// A login that outlasts the timeout timed out; the broker did not refuse
// it. The dialer cuts a handshake when its request's context ends, and the
// SASL exchange it cut must not read as a rejected password.
func TestOpenTimesOutDuringSASL(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "alice", "pw"),
	}})
	p := testenv.NewProxy(t, k.Addrs()[0])
	// Hold everything from the first SASL handshake on: the broker gets
	// ApiVersions and answers it, and never sees the login.
	p.Tap(func(sent io.Reader) {
		var head [6]byte // size, API key
		for {
			if _, err := io.ReadFull(sent, head[:]); err != nil {
				return
			}
			if int16(binary.BigEndian.Uint16(head[4:])) == kmsg.SASLHandshake.Int16() {
				p.Pause()
				return
			}
			if _, err := io.CopyN(io.Discard, sent, int64(binary.BigEndian.Uint32(head[:4]))-2); err != nil {
				return
			}
		}
	})
	const timeout = time.Second
	// What is tested is the error; the deadline only guards against a
	// hang (an Open that never ends, or one that ignores the 1s and waits
	// for the 10s default), with testenv's slack for a loaded machine.
	done := make(chan error, 1)
	go func() {
		c, err := driver{}.Open(context.Background(), broker.Target{URL: "kafka://" + p.Addr, SASL: "PLAIN", Username: "alice", Password: "pw", Timeout: timeout})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(testenv.Deadline(timeout)):
		t.Fatalf("Open with --timeout %v and the login held did not end within %v", timeout, testenv.Deadline(timeout))
	}
	if err == nil {
		t.Fatal("Open succeeded with the login held")
	}
	if !mqerr.Is(err, mqerr.Unreachable) || !strings.HasSuffix(err.Error(), ": timed out") {
		t.Errorf("err = %v (kind %v), want Unreachable ending in \": timed out\"", err, mqerr.KindOf(err))
	}
}

func TestOpenTLS(t *testing.T) {
	pki := testenv.NewPKI(t, "kafka.test")
	serverCfg := &tls.Config{Certificates: []tls.Certificate{pki.Server}}
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.TLS(serverCfg)}})

	mtlsCfg := &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.Pool,
	}
	mk := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.TLS(mtlsCfg)}})
	plain := testenv.Kafka(t, sandbox.KafkaOptions{})

	tests := []struct {
		name     string
		url      string
		tls      broker.TLSOptions
		wantKind mqerr.Kind
		wantText string
	}{
		{name: "CA file", url: k.URL, tls: broker.TLSOptions{CAFile: pki.CAFile}, wantKind: noError},
		{name: "server name override", url: k.URL, tls: broker.TLSOptions{CAFile: pki.CAFile, ServerName: "kafka.test"}, wantKind: noError},
		{name: "insecure skip verify", url: k.URL, tls: broker.TLSOptions{Enabled: true, InsecureSkipVerify: true}, wantKind: noError},
		{name: "no CA", url: k.URL, tls: broker.TLSOptions{Enabled: true}, wantKind: mqerr.Failure, wantText: "certificate"},
		{name: "wrong server name", url: k.URL, tls: broker.TLSOptions{CAFile: pki.CAFile, ServerName: "other.test"}, wantKind: mqerr.Failure, wantText: "certificate"},
		{name: "client certificate", url: mk.URL, tls: broker.TLSOptions{CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}, wantKind: noError},
		{name: "missing client certificate", url: mk.URL, tls: broker.TLSOptions{CAFile: pki.CAFile}, wantKind: mqerr.Auth, wantText: "certificate"},
		{name: "plaintext to a TLS broker", url: k.URL, wantKind: mqerr.Failure, wantText: "TLS"},
		// kfake waits for the rest of what it takes for a huge request; a
		// real broker closes the connection and kgo names TLS as the suspect.
		{name: "TLS to a plaintext broker", url: plain.URL, tls: broker.TLSOptions{CAFile: pki.CAFile}, wantKind: mqerr.Unreachable, wantText: "cannot reach kafka"},
		{name: "cert without key", url: k.URL, tls: broker.TLSOptions{CAFile: pki.CAFile, CertFile: pki.CertFile}, wantKind: mqerr.Usage, wantText: "key file"},
		{name: "unreadable CA", url: k.URL, tls: broker.TLSOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}, wantKind: mqerr.Usage, wantText: "CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c, err := open(t, broker.Target{URL: tt.url, TLS: tt.tls, Timeout: 3 * time.Second})
			if tt.wantKind == noError {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if _, err := c.List(context.Background(), broker.ListQuery{}); err != nil {
					t.Fatalf("List over TLS: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want a %v error", tt.wantKind)
			}
			if got := mqerr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err: %v)", got, tt.wantKind, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if elapsed := time.Since(start); elapsed > testenv.Deadline(0) {
				t.Errorf("Open took %v, past its timeout", elapsed)
			}
			t.Logf("error: %v", err)
		})
	}
}

// closedPort returns a 127.0.0.1 address nothing listens on: a port that
// was just free.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentListener accepts connections and never writes a byte.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

func TestCredentialsWithoutMechanismIsUsage(t *testing.T) {
	_, err := broker.Open(context.Background(), broker.Target{URL: "kafka://ops:pw-123@127.0.0.1:1", Timeout: time.Second})
	if mqerr.KindOf(err) != mqerr.Usage || !strings.Contains(err.Error(), "no SASL mechanism") || strings.Contains(err.Error(), "pw-123") {
		t.Fatalf("got %v", err)
	}
}

// A kafka:// URL pointing at another broker's port says which protocol
// answered, not franz-go's "invalid large response size".
func TestOpenOtherProtocol(t *testing.T) {
	n := testenv.NATS(t, sandbox.NATSOptions{})
	_, err := open(t, broker.Target{URL: "kafka://" + strings.TrimPrefix(n.URL, "nats://"), Timeout: 2 * time.Second})
	if err == nil || !mqerr.Is(err, mqerr.Unreachable) || !strings.Contains(err.Error(), `answered "INFO", which is NATS, not Kafka`) {
		t.Errorf("Open against NATS: %v (kind %v)", err, mqerr.KindOf(err))
	}
	for in, want := range map[string]string{
		"invalid large response size 1095586128 > limit 104857600: response too large": `"AMQP", which is RabbitMQ (AMQP)`,
		"invalid large response size 1347374663 > limit 1":                             `"PONG", which is not Kafka`,
		"invalid large response size 200000000 > limit 1":                              "",
		"connection refused": "",
	} {
		if got := otherProtocol(errors.New(in)); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("otherProtocol(%q) = %q, want %q", in, got, want)
		}
	}
}
