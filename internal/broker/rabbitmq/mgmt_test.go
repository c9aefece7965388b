package rabbitmq

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/testenv"
)

// TestManagementTransportWording: an API that does not answer, or where
// nothing listens, reads as the same failure does on every broker
// (broker.TransportReason): "unreachable: timed out", "unreachable:
// connection refused".
func TestManagementTransportWording(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.ClosedPort(t))
	for _, tc := range []struct{ addr, want string }{
		{silent.Addr().String(), "unreachable: timed out"},
		{closed, "unreachable: connection refused"},
	} {
		m := &Management{base: "http://" + tc.addr, client: &http.Client{}}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var out any
		err := m.get(ctx, "/api/overview", nil, "overview", &out)
		cancel()
		want := "management API at http://" + tc.addr + " " + tc.want
		if !mqerr.Is(err, mqerr.Unreachable) || err.Error() != want {
			t.Errorf("got %v (kind %v), want Unreachable %q", err, mqerr.KindOf(err), want)
		}
	}
}
