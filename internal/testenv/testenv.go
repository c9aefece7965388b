// Package testenv gives tests real brokers: an embedded Kafka (kfake), an
// embedded NATS with JetStream, and a real rabbitmq-server.
package testenv

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/sandbox"
)

// Kafka starts a fresh kfake cluster for t, closed when t ends.
func Kafka(t testing.TB, o sandbox.KafkaOptions) *sandbox.Kafka {
	t.Helper()
	k, err := sandbox.StartKafka(o)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(k.Close)
	return k
}

// NATS starts a fresh nats-server with JetStream for t, stopped when t ends.
func NATS(t testing.TB, o sandbox.NATSOptions) *sandbox.NATS {
	t.Helper()
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	n, err := sandbox.StartNATS(o)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(n.Close)
	// The server's warnings and errors go to the test's log, shown when it
	// fails: a refusal such as err_code 10049 ("error creating store for
	// stream") names its cause only in the server's log.
	l := &natsLog{t: t}
	n.Server().SetLoggerV2(l, false, false, false)
	t.Cleanup(l.stop) // runs before n.Close: nothing is logged after t ends
	return n
}

// natsLog is a nats-server logger writing warnings and errors to a test's
// log until stop.
type natsLog struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (l *natsLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

func (l *natsLog) log(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("nats-server: "+format, v...)
	}
}

func (l *natsLog) Noticef(string, ...any)         {}
func (l *natsLog) Debugf(string, ...any)          {}
func (l *natsLog) Tracef(string, ...any)          {}
func (l *natsLog) Warnf(format string, v ...any)  { l.log(format, v...) }
func (l *natsLog) Errorf(format string, v ...any) { l.log(format, v...) }
func (l *natsLog) Fatalf(format string, v ...any) { l.log(format, v...) }

// ClosedPort returns a loopback port that nothing listens on: it binds a
// free port and closes it again. The port is below the ephemeral range
// (sandbox.ListenBelowEphemeral), so that an outgoing connection is not
// given it before a test binds it (a cluster's route port) or expects a
// refusal on it.
func ClosedPort(t testing.TB) int {
	t.Helper()
	l, err := sandbox.ListenBelowEphemeral()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// Deadline is how long a test lets an operation run that must end by
// itself within d (a --timeout, a cancel, a closed connection): d plus a
// margin of at least 5s for a loaded two-core machine. It tells an
// operation that honours d from one that hangs or falls back to the 10s
// default timeout; it is not a speed assertion.
func Deadline(d time.Duration) time.Duration { return d + max(d, 5*time.Second) }

// SilentPort returns a loopback port that accepts connections and never
// answers on them: a broker that hangs, as a black-holed address looks
// once connected. It closes when t ends.
func SilentPort(t testing.TB) int {
	t.Helper()
	port, _ := SilentListener(t)
	return port
}

// SilentListener is SilentPort that also says when it accepted a
// connection: one value per accept on the channel (dropped when it holds
// 16 not read), so a test can act once the client is connected.
func SilentListener(t testing.TB) (port int, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ch := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port, ch
}
