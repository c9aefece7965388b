package nats

import (
	"context"
	"sync"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// maxKnownSubjects bounds what routes remembers: a replay to subjects
// such as orders.<id> would otherwise keep an entry per message. Past it
// routes starts over, which costs a look-up per subject again, not memory.
var maxKnownSubjects = 10000

// routes checks, with PerMessageDestination, that a stream captures each
// message's subject, asking the server once per subject (up to
// maxKnownSubjects subjects).
type routes struct {
	c  *Conn
	mu sync.Mutex
	// known maps a subject to nil (a stream captures it) or to why
	// messages to it fail; answers that may change within a run (a
	// timeout) are not kept.
	known map[string]error
}

// subject returns where m goes, or why it cannot go there.
func (r *routes) subject(ctx context.Context, m *broker.Message) (string, error) {
	s := m.NATS.Subject
	if s == "" {
		return "", mqerr.Usagef("nats: the message names no subject to publish to")
	}
	r.mu.Lock()
	err, ok := r.known[s]
	r.mu.Unlock()
	if ok {
		return s, err
	}
	// Looked up without the lock: two publishers asking about the same
	// new subject at once cost one extra request, not a stall.
	err = checkSubject(s)
	if err == nil {
		err = r.c.checkStream(ctx, s, "")
	}
	if k := mqerr.KindOf(err); err == nil || k == mqerr.Usage || k == mqerr.NotFound || k == mqerr.Auth {
		r.mu.Lock()
		if len(r.known) >= maxKnownSubjects {
			clear(r.known)
		}
		r.known[s] = err
		r.mu.Unlock()
	}
	return s, err
}
