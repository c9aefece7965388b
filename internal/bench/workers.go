package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
)

// Cluster is what a distributed run uses on the broker under test: the
// same producer, consumer and bench-destination roles as a local run.
type Cluster struct {
	Broker string // the driver's name, for Plan
	// Control is the leader's inbox (ControlName when empty); workers'
	// inboxes are Control-<id>.
	Control    string
	Publisher  broker.Publisher
	Subscriber broker.Subscriber
	Dests      broker.BenchDestinations
	// Core runs the control channel over core NATS (no JetStream); leader
	// and workers must agree on it.
	Core           bool
	ConfirmTimeout time.Duration
	// Logf, when set, gets what a person watching should see (joins,
	// missing workers).
	Logf func(format string, args ...any)
}

func (c Cluster) control() string {
	if c.Control == "" {
		return ControlName
	}
	return c.Control
}

func (c Cluster) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// mailbox is one participant's inbox: a destination only it reads.
type mailbox struct {
	c    Cluster
	d    broker.BenchDestination
	msgs chan controlMsg
	stop context.CancelFunc
	done chan error
}

// plan is the control destination name's plan: one partition, queue or
// stream, one reader.
func (c Cluster) plan(name string) (broker.BenchDestination, broker.ProducerOptions, broker.ConsumerOptions, error) {
	d, p, co, err := Plan(c.Broker, name, Workload{Producers: 1, Consumers: 1, InFlight: 16}, Knobs{Core: c.Core, Partitions: 1})
	p.ConfirmTimeout = c.ConfirmTimeout
	return d, p, co, err
}

// openMailbox creates (when create) and reads the inbox name. An inbox
// that exists already is read all the same when reuse: the leader's, left
// behind by a leader that was killed; the handshake and run ids keep its
// stale messages out.
func (c Cluster) openMailbox(ctx context.Context, name string, reuse bool) (*mailbox, error) {
	d, _, co, err := c.plan(name)
	if err != nil {
		return nil, err
	}
	if err := c.Dests.CreateBenchDestination(ctx, d); err != nil {
		if !reuse {
			return nil, err
		}
		c.logf("using %s as it is (%v): only one distributed run per broker at a time", name, err)
	}
	cons, err := c.Subscriber.NewConsumer(ctx, co)
	if err != nil {
		c.deleteDest(d)
		return nil, err
	}
	rctx, stop := context.WithCancel(context.Background())
	m := &mailbox{c: c, d: d, msgs: make(chan controlMsg, 64), stop: stop, done: make(chan error, 1)}
	go func() {
		defer cons.Close()
		for {
			dl, err := cons.Next(rctx)
			if err != nil {
				if rctx.Err() != nil {
					err = nil
				}
				m.done <- err
				close(m.msgs)
				return
			}
			_ = dl.Ack(rctx) // a control message read twice is harmless
			msg, err := decodeControl(dl.Value)
			if err != nil {
				c.logf("%s: ignored: %v", name, err)
				continue
			}
			select {
			case m.msgs <- msg:
			case <-rctx.Done():
			}
		}
	}()
	return m, nil
}

// close stops reading and deletes the inbox.
func (m *mailbox) close() {
	m.stop()
	for range m.msgs {
	}
	m.c.deleteDest(m.d)
}

func (c Cluster) deleteDest(d broker.BenchDestination) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Dests.DeleteBenchDestination(ctx, d); err != nil {
		c.logf("could not delete %s: %v", d.Name, err)
	}
}

// sender writes control messages to one inbox.
type sender struct{ p broker.Producer }

func (c Cluster) sender(ctx context.Context, inbox string) (*sender, error) {
	_, po, _, err := c.plan(inbox)
	if err != nil {
		return nil, err
	}
	p, err := c.Publisher.NewProducer(ctx, po)
	if err != nil {
		return nil, err
	}
	return &sender{p}, nil
}

// post publishes m without waiting for the confirm (progress, hello:
// the next one follows shortly).
func (s *sender) post(ctx context.Context, m controlMsg) {
	s.p.Publish(ctx, &broker.Message{Value: encodeControl(m)}, func(broker.Receipt, error) {})
}

// send publishes m and waits for the confirm.
func (s *sender) send(ctx context.Context, m controlMsg) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	s.p.Publish(ctx, &broker.Message{Value: encodeControl(m)}, func(_ broker.Receipt, err error) { errc <- err })
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sender) close() { _ = s.p.Close() }

func randomID() string { return fmt.Sprintf("%08x", rand.Uint32()) }

// LeadOptions are a leader's: the total workload, split over Workers.
type LeadOptions struct {
	Workers     int
	JoinTimeout time.Duration
	// Silence is how long a running worker may send nothing before it
	// is reported missing (default 10s; workers report once a second).
	Silence  time.Duration
	Workload Workload
	Knobs    Knobs
	// Keep keeps the workers' data destinations.
	Keep bool
	// Progress, when set, gets the running totals over the workers each
	// time one reports (about once a second per worker).
	Progress func(sent, confirmed int64, running int)
}

// ErrJoin is in the error chain when fewer workers than asked for joined
// in time.
var ErrJoin = errors.New("not enough workers joined")

// joined is a worker that answered ready.
type joined struct {
	row             WorkerRow
	to              *sender
	lastSeen        time.Time
	done            bool
	sent, confirmed int64
}

// Lead runs a distributed run: it waits up to JoinTimeout for Workers
// workers, gives each its own data destination and share of the
// workload, starts them together, and merges their results. Workers that
// go silent or fail are in the report and left out of the total. ctx
// ending stops the workers; their results so far are still collected.
func Lead(ctx context.Context, c Cluster, o LeadOptions) (*Distributed, error) {
	if o.Silence == 0 {
		o.Silence = 10 * time.Second
	}
	run := randomID()
	inbox, err := c.openMailbox(ctx, c.control(), true)
	if err != nil {
		return nil, fmt.Errorf("control destination %s: %w", c.control(), err)
	}
	defer inbox.close()
	var workers []*joined
	byID := map[string]*joined{}
	welcomed := map[string]string{} // worker id → inbox
	defer func() {
		for _, w := range workers {
			w.to.close()
		}
	}()
	stopAll := func() {
		for _, w := range workers {
			if !w.done {
				_ = w.to.send(context.Background(), controlMsg{Type: msgStop, Run: run})
			}
		}
	}
	// reply answers a worker outside the run through a producer of its own.
	reply := func(to string, m controlMsg) {
		s, err := c.sender(ctx, to)
		if err != nil {
			c.logf("cannot answer %s: %v", to, err)
			return
		}
		defer s.close()
		_ = s.send(ctx, m)
	}
	handshake := func(m controlMsg) error {
		switch {
		case m.Type == msgHello && m.Inbox != "" && byID[m.Worker] == nil:
			welcomed[m.Worker] = m.Inbox
			reply(m.Inbox, controlMsg{Type: msgWelcome, Run: run})
		case m.Type == msgReady && m.Run == run && byID[m.Worker] == nil && welcomed[m.Worker] != "":
			if len(workers) == o.Workers {
				reply(welcomed[m.Worker], controlMsg{Type: msgFull, Run: run})
				return nil
			}
			s, err := c.sender(ctx, welcomed[m.Worker])
			if err != nil {
				return fmt.Errorf("worker %s: %w", m.Worker, err)
			}
			w := &joined{row: WorkerRow{ID: m.Worker, Host: m.Host}, to: s}
			workers = append(workers, w)
			byID[m.Worker] = w
			c.logf("worker %s (%s) joined: %d of %d", m.Worker, m.Host, len(workers), o.Workers)
		}
		return nil
	}

	deadline := time.NewTimer(o.JoinTimeout)
	defer deadline.Stop()
	for len(workers) < o.Workers {
		select {
		case m, ok := <-inbox.msgs:
			if !ok {
				stopAll()
				return nil, fmt.Errorf("reading %s: %w", c.control(), <-inbox.done)
			}
			if err := handshake(m); err != nil {
				stopAll()
				return nil, err
			}
		case <-deadline.C:
			stopAll()
			return nil, fmt.Errorf("%w: %d of %d within %s (--join-timeout)", ErrJoin, len(workers), o.Workers, o.JoinTimeout)
		case <-ctx.Done():
			stopAll()
			return nil, ctx.Err()
		}
	}

	// Every destination first, then the starts, so that no worker starts
	// late because another's topic took its time.
	shares := make([]Workload, len(workers))
	for i := range workers {
		name := fmt.Sprintf("mqctl-bench-%s-%d", run, i)
		shares[i] = splitWorkload(o.Workload, o.Workers, i)
		d, _, _, err := Plan(c.Broker, name, shares[i], o.Knobs)
		if err == nil {
			err = c.Dests.CreateBenchDestination(ctx, d)
		}
		if err != nil {
			stopAll()
			return nil, err
		}
		if !o.Keep {
			defer c.deleteDest(d)
		}
	}
	// A second to hand out the starts; the clocks of the hosts are
	// assumed in sync.
	startAt := time.Now().Add(time.Second)
	k := o.Knobs
	for i, w := range workers {
		name := fmt.Sprintf("mqctl-bench-%s-%d", run, i)
		if err := w.to.send(ctx, controlMsg{Type: msgStart, Run: run, Destination: name, Workload: &shares[i], Payload: o.Workload.Payload, Knobs: &k, StartAt: startAt}); err != nil {
			stopAll()
			return nil, fmt.Errorf("start worker %s: %w", w.row.ID, err)
		}
		w.lastSeen = startAt
	}

	check := time.NewTicker(200 * time.Millisecond)
	defer check.Stop()
	pending := len(workers)
	stopped := false
	for pending > 0 {
		select {
		case m, ok := <-inbox.msgs:
			if !ok {
				return nil, fmt.Errorf("reading %s: %w", c.control(), <-inbox.done)
			}
			w := byID[m.Worker]
			if m.Run != run || w == nil || w.done {
				if err := handshake(m); err != nil {
					c.logf("%v", err)
				}
				continue
			}
			w.lastSeen = time.Now()
			switch m.Type {
			case msgProgress:
				w.sent, w.confirmed = m.Sent, m.Confirmed
				if o.Progress != nil {
					var s, cf int64
					for _, w := range workers {
						s, cf = s+w.sent, cf+w.confirmed
					}
					o.Progress(s, cf, pending)
				}
			case msgResult:
				if m.Summary == nil {
					continue
				}
				w.row.Status, w.row.Summary, w.done = WorkerOK, m.Summary, true
				pending--
			case msgFailed:
				w.row.Status, w.row.Error, w.done = WorkerFailed, m.Error, true
				pending--
				c.logf("worker %s (%s) failed: %s", w.row.ID, w.row.Host, m.Error)
			}
		case now := <-check.C:
			for _, w := range workers {
				if !w.done && now.Sub(w.lastSeen) > o.Silence {
					w.row.Status, w.row.Error, w.done = WorkerMissing, fmt.Sprintf("silent for %s", o.Silence), true
					pending--
					c.logf("worker %s (%s) is missing: nothing from it for %s", w.row.ID, w.row.Host, o.Silence)
				}
			}
		case <-ctx.Done():
			if !stopped {
				stopped = true
				stopAll()
			}
		}
		if stopped {
			// Keep collecting what the stopped workers send.
			ctx = context.Background()
		}
	}

	d := &Distributed{V: 1, Run: run}
	var parts []Summary
	for _, w := range workers {
		d.Workers = append(d.Workers, w.row)
		switch w.row.Status {
		case WorkerOK:
			parts = append(parts, *w.row.Summary)
		case WorkerMissing:
			d.Missing++
		case WorkerFailed:
			d.Failed++
		}
	}
	total, err := MergeSummaries(parts)
	if err != nil {
		return nil, err
	}
	total.Broker, total.Destination, total.Workload = c.Broker, "mqctl-bench-"+run+"-*", o.Workload
	total.Interrupted = total.Interrupted || stopped
	d.Total = total
	return d, nil
}

// WorkOptions are a worker's.
type WorkOptions struct {
	// Host names the worker in the leader's report.
	Host string
	// JoinTimeout bounds the wait for a leader to start the run.
	JoinTimeout time.Duration
}

// ErrFull says the run this worker tried to join had its workers.
var ErrFull = errors.New("the leader has all its workers already")

// Work joins the distributed run a leader on this broker leads, runs its
// share when told and sends the result back. It returns the result (also
// when the run was stopped) and the data destination's name. ctx ending
// interrupts the run; the leader still gets the result so far.
func Work(ctx context.Context, c Cluster, o WorkOptions) (*Result, string, error) {
	id := randomID()
	inbox, err := c.openMailbox(ctx, c.control()+"-"+id, false)
	if err != nil {
		return nil, "", fmt.Errorf("worker inbox: %w", err)
	}
	defer inbox.close()

	// Wait for the leader's control destination, then hello until it
	// answers.
	deadline := time.Now().Add(o.JoinTimeout)
	var leader *sender
	for leader == nil {
		leader, err = c.sender(ctx, c.control())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("no leader within %s (--join-timeout; is `mqctl bench --workers N` running on this broker?): %w", o.JoinTimeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
	defer leader.close()
	// again is resent every second until the next step comes: hello
	// until welcome, ready until start (either may be lost on core NATS).
	again := controlMsg{Type: msgHello, Worker: id, Host: o.Host, Inbox: c.control() + "-" + id}
	leader.post(ctx, again)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var start controlMsg
	for start.Type == "" {
		select {
		case m, ok := <-inbox.msgs:
			if !ok {
				return nil, "", fmt.Errorf("reading the worker inbox: %w", <-inbox.done)
			}
			switch m.Type {
			case msgWelcome:
				// Joined: the leader may wait its own --join-timeout
				// for the others from here.
				deadline = time.Now().Add(o.JoinTimeout)
				again = controlMsg{Type: msgReady, Worker: id, Host: o.Host, Run: m.Run}
				leader.post(ctx, again)
			case msgFull:
				return nil, "", ErrFull
			case msgStop:
				return nil, "", errors.New("the leader gave up on the run")
			case msgStart:
				start = m
			}
		case <-t.C:
			leader.post(ctx, again)
			if time.Now().After(deadline) {
				return nil, "", fmt.Errorf("the leader did not start the run within %s (--join-timeout)", o.JoinTimeout)
			}
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
	t.Stop()

	fail := func(err error) (*Result, string, error) {
		_ = leader.send(context.Background(), controlMsg{Type: msgFailed, Worker: id, Run: start.Run, Error: err.Error()})
		return nil, start.Destination, err
	}
	if start.Workload == nil || start.Knobs == nil {
		return fail(errors.New("the leader's start message has no workload"))
	}
	w := *start.Workload
	w.Payload = start.Payload
	_, po, co, err := Plan(c.Broker, start.Destination, w, *start.Knobs)
	if err != nil {
		return fail(err)
	}
	po.ConfirmTimeout = c.ConfirmTimeout
	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	go func() {
		for m := range inbox.msgs {
			if m.Type == msgStop && m.Run == start.Run {
				interrupt()
			}
		}
	}()
	select {
	case <-time.After(time.Until(start.StartAt)):
	case <-runCtx.Done():
	}
	env := Env{Publisher: c.Publisher, Subscriber: c.Subscriber, Producer: po, Consumer: co,
		Tick: func(tk Tick) {
			leader.post(context.Background(), controlMsg{Type: msgProgress, Worker: id, Run: start.Run, Sent: tk.TotalSent, Confirmed: tk.TotalConfirmed})
		}}
	res, err := Run(runCtx, env, w)
	if err != nil {
		return fail(err)
	}
	s := Summarize(res, c.Broker, start.Destination)
	s.Timeline = nil // the leader merges no timelines; keeps the message small
	if err := leader.send(context.Background(), controlMsg{Type: msgResult, Worker: id, Run: start.Run, Summary: &s}); err != nil {
		return res, start.Destination, fmt.Errorf("sending the result to the leader: %w", err)
	}
	return res, start.Destination, nil
}
