package bench

import (
	"encoding/json"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqctl/mqctl/internal/output"
)

// A distributed run (`bench --workers N` leading, `bench --worker` on
// other hosts) coordinates through the broker under test, so nothing but
// the broker needs to be reachable. Every participant reads only its own
// inbox, because a RabbitMQ queue gives each message to one consumer
// while Kafka and JetStream give it to every reader: one reader per
// destination behaves the same on all of them.
//
//   - ControlName (a topic, queue or stream the leader creates) is the
//     leader's inbox; workers write to it.
//   - ControlName-<worker id> is a worker's inbox, created and deleted by
//     the worker; the leader writes to it.
//
// The handshake: a worker sends hello (with its inbox) once a second
// until the leader answers welcome; the worker replies ready, and the
// first N ready workers join. The round trip keeps stale hellos (left in
// a control stream by an earlier run's dead worker) from counting. Each
// worker then gets start: its own data destination (so lost and
// duplicated are counted by the process that sent the messages, and add
// up exactly), its share of the workload, and a wall-clock start time.
// Workers send progress once a second and a result (or failed) at the
// end; a worker silent for longer than the leader's limit is missing.
// Messages are JSON with "v": 1; anything else is ignored.

// ControlName is the leader's inbox.
const ControlName = "mqctl-bench-control"

const protocolV = 1

// Control message types.
const (
	msgHello    = "hello"    // worker → leader: id, host, inbox
	msgWelcome  = "welcome"  // leader → worker: run
	msgReady    = "ready"    // worker → leader: id, run
	msgFull     = "full"     // leader → worker: the run has its workers
	msgStart    = "start"    // leader → worker: run, destination, workload, knobs, start_at
	msgStop     = "stop"     // leader → worker: stop now (leader interrupted or gave up)
	msgProgress = "progress" // worker → leader: run, sent, confirmed
	msgResult   = "result"   // worker → leader: run, summary
	msgFailed   = "failed"   // worker → leader: run, error
)

// controlMsg is every message of the protocol; Type says which fields
// are set.
type controlMsg struct {
	V           int       `json:"v"`
	Type        string    `json:"type"`
	Worker      string    `json:"worker,omitempty"`
	Host        string    `json:"host,omitempty"`
	Inbox       string    `json:"inbox,omitempty"`
	Run         string    `json:"run,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Workload    *Workload `json:"workload,omitempty"`
	Payload     []byte    `json:"payload,omitempty"`
	Knobs       *Knobs    `json:"knobs,omitempty"`
	StartAt     time.Time `json:"start_at,omitzero"`
	Sent        int64     `json:"sent,omitempty"`
	Confirmed   int64     `json:"confirmed,omitempty"`
	Summary     *Summary  `json:"summary,omitempty"`
	Error       string    `json:"error,omitempty"`
}

func encodeControl(m controlMsg) []byte {
	m.V = protocolV
	b, _ := json.Marshal(m) // plain structs: cannot fail
	return b
}

func decodeControl(b []byte) (controlMsg, error) {
	var m controlMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not a bench control message: %v", err)
	}
	if m.V != protocolV || m.Type == "" {
		return m, fmt.Errorf("bench control message version %d type %q: want version %d", m.V, m.Type, protocolV)
	}
	return m, nil
}

// splitWorkload is worker i's share of w over n workers: --count and
// --rate are totals, divided as evenly as they go; producers, consumers
// and the in-flight window are each worker's own.
func splitWorkload(w Workload, n, i int) Workload {
	if w.Count > 0 {
		c := w.Count / int64(n)
		if int64(i) < w.Count%int64(n) {
			c++
		}
		w.Count = c
	}
	if w.Rate > 0 {
		w.Rate /= float64(n)
	}
	return w
}

// Worker statuses in a distributed run.
const (
	WorkerOK      = "ok"
	WorkerMissing = "missing" // went silent: killed, cut off, or hung
	WorkerFailed  = "failed"  // said it could not run
)

// WorkerRow is one worker of a distributed run.
type WorkerRow struct {
	ID      string   `json:"id"`
	Host    string   `json:"host"`
	Status  string   `json:"status"`
	Error   string   `json:"error,omitempty"`
	Summary *Summary `json:"summary,omitempty"`
}

// Distributed is a distributed run's report (-o json, version 1): each
// worker's summary and the merge of those that finished.
type Distributed struct {
	V       int         `json:"v"`
	Run     string      `json:"run"`
	Workers []WorkerRow `json:"workers"`
	Missing int         `json:"missing"`
	Failed  int         `json:"failed"`
	Total   Summary     `json:"total"`
}

// MergeSummaries adds up runs of the same workload in disjoint
// destinations: counts add, histograms merge (HDR histograms of the same
// range and precision add exactly), the elapsed time is the longest and
// throughput is the total over it. Broker, destination and workload are
// the caller's to fill in.
func MergeSummaries(parts []Summary) (Summary, error) {
	t := Summary{V: 1}
	hists := map[string]*hdr.Histogram{}
	var order []string
	mode := ""
	for _, p := range parts {
		t.Sent += p.Sent
		t.Confirmed += p.Confirmed
		t.Failed += p.Failed
		t.Received += p.Received
		t.Lost += p.Lost
		t.Duplicated += p.Duplicated
		t.Foreign += p.Foreign
		t.Interrupted = t.Interrupted || p.Interrupted
		t.Unconfirmed = t.Unconfirmed || p.Unconfirmed
		if t.Error == "" {
			t.Error = p.Error
		}
		t.ElapsedSec = max(t.ElapsedSec, p.ElapsedSec)
		if p.Workload.Size > t.Workload.Size {
			t.Workload.Size = p.Workload.Size
		}
		mode = p.Workload.Mode
		for _, l := range p.Latency {
			h, ok := hists[l.Name]
			if !ok {
				h = newHist()
				hists[l.Name] = h
				order = append(order, l.Name)
			}
			if l.Encoded == "" {
				continue
			}
			d, err := hdr.Decode([]byte(l.Encoded))
			if err != nil {
				return t, fmt.Errorf("%s histogram: %v", l.Name, err)
			}
			if dropped := h.Merge(d); dropped > 0 {
				return t, fmt.Errorf("%s histogram: %d values out of range", l.Name, dropped)
			}
		}
	}
	n := t.Confirmed
	if mode == "sub" {
		n = t.Received
	}
	if t.ElapsedSec > 0 {
		t.MsgsPerSec = float64(n) / t.ElapsedSec
		t.MiBPerSec = t.MsgsPerSec * float64(t.Workload.Size) / (1 << 20)
	}
	for _, name := range order {
		t.Latency = append(t.Latency, latency(name, hists[name]))
	}
	return t, nil
}

// Table is one row per worker and the merged total.
func (d Distributed) Table() output.Table {
	t := output.Table{Header: []string{"WORKER", "HOST", "STATUS", "SENT", "CONFIRMED", "FAILED", "RECEIVED", "LOST", "DUPLICATED", "MSG/S", "CONFIRM P99", "E2E P99"}}
	row := func(id, host, status string, s *Summary) {
		r := []string{id, host, status, "", "", "", "", "", "", "", "", ""}
		if s != nil {
			r[3], r[4], r[5], r[6] = fmt.Sprint(s.Sent), fmt.Sprint(s.Confirmed), fmt.Sprint(s.Failed), fmt.Sprint(s.Received)
			r[7], r[8], r[9] = fmt.Sprint(s.Lost), fmt.Sprint(s.Duplicated), fmt.Sprintf("%.0f", s.MsgsPerSec)
			for _, l := range s.Latency {
				switch l.Name {
				case "publish→confirm":
					r[10] = us(l.P99)
				case "end-to-end":
					r[11] = us(l.P99)
				}
			}
		}
		t.Rows = append(t.Rows, r)
	}
	for _, w := range d.Workers {
		status := w.Status
		if w.Error != "" {
			status += ": " + w.Error
		}
		row(w.ID, w.Host, status, w.Summary)
	}
	total := d.Total
	row("total", "", fmt.Sprintf("%d of %d", len(d.Workers)-d.Missing-d.Failed, len(d.Workers)), &total)
	return t
}
