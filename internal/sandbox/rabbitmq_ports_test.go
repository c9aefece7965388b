package sandbox

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// Picked ports are distinct and below the ephemeral range, where no
// outgoing connection can take them before the node binds them; a given
// port that is busy is refused by name.
func TestFreePortsBelowEphemeral(t *testing.T) {
	ports, err := freePorts([]int{0, 0, 0}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 10000 || p >= ephemeralStart() || seen[p] {
			t.Errorf("ports %v: want distinct ports in [10000, %d)", ports, ephemeralStart())
		}
		seen[p] = true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = freePorts([]int{0, busy}, []string{"AMQP", "management API"})
	if err == nil || !strings.Contains(err.Error(), "management API port "+strconv.Itoa(busy)+" is not free") {
		t.Errorf("busy port %d: %v", busy, err)
	}
}
