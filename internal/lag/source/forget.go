package source

import (
	"context"

	"github.com/mqctl/mqctl/internal/broker"
)

// Forget closes target i's cached connection, so the next read opens a
// fresh one: a long-running reader (mqctl serve) must not keep polling
// through a connection the broker closed while it restarted.
func (s *Source) Forget(i int) {
	s.mu.Lock()
	conn := s.conns[i]
	delete(s.conns, i)
	s.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// Conn is target i's connection, opened on first use and kept as ReadTarget
// keeps it: `mqctl serve` lists dead letters on the connection it reads lag
// through.
func (s *Source) Conn(ctx context.Context, i int) (broker.Conn, error) { return s.conn(ctx, i) }
