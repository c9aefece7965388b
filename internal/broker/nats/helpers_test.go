package nats

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// openDirect calls the driver itself, not broker.Open, so that tests on
// error text see what the driver produced before the registry scrubs it.
func openDirect(t *testing.T, tg broker.Target, timeout time.Duration) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := driver{}.Open(ctx, tg)
	if err != nil {
		return nil, err
	}
	conn := c.(*Conn)
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

// withScheme swaps the scheme of a sandbox URL (nats://127.0.0.1:PORT).
func withScheme(url, scheme string) string {
	return scheme + "://" + strings.TrimPrefix(url, "nats://")
}

// withUserInfo puts userinfo ("user:pass" or "token") into a sandbox URL.
func withUserInfo(url, userinfo string) string {
	return "nats://" + userinfo + "@" + strings.TrimPrefix(url, "nats://")
}

// deadAddr returns a 127.0.0.1 address on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// stalling is a listener that accepts TCP connections and never says a
// word, like a hung server or a proxy in front of a dead one.
type stalling struct {
	addr     string
	accepted atomic.Int32
}

func newStalling(t *testing.T) *stalling {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalling{addr: l.Addr().String()}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return s
}

func stallingAddr(t *testing.T) string { return newStalling(t).addr }

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
