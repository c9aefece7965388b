package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestTransportReason: one failure, one text, whatever the driver (Kafka
// said "no answer" for a deadline where the others said "timed out").
func TestTransportReason(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"deadline", fmt.Errorf("unable to dial: %w", context.DeadlineExceeded), "timed out"},
		{"socket timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "timed out"},
		{"refused", fmt.Errorf("unable to dial: %w", refused), "connection refused"},
		{"dns", &net.DNSError{Err: "no such host", Name: "nowhere.invalid"}, "no such host (nowhere.invalid)"},
		{"eof", fmt.Errorf("read: %w", io.EOF), "the server closed the connection"},
		{"other", fmt.Errorf("something else"), "something else"},
	} {
		if got := TransportReason(context.Background(), c.err); got != c.want {
			t.Errorf("%s: TransportReason(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}
