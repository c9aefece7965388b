package source

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
