package serve

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics (the contexts' snapshots and the process's own
// Go metrics), /healthz (the process answers) and /readyz (every context
// answered within the last interval plus timeout).
func (e *Exporter) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "UP"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := e.Readiness()
		code := http.StatusOK
		if r.Status != "UP" {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, r)
	})
	return mux
}

// Readiness is /readyz's body.
type Readiness struct {
	Status   string                  `json:"status"` // UP or DOWN
	Contexts map[string]ContextState `json:"contexts"`
}

// ContextState is one context's last poll as /readyz reports it.
type ContextState struct {
	Status      string     `json:"status"` // UP or DOWN
	Rows        int        `json:"rows"`
	LastPoll    *time.Time `json:"last_poll,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	Duration    string     `json:"duration,omitempty"`
	Error       string     `json:"error,omitempty"`
	// Note says why a context that is UP has no lag rows by its
	// broker's setup (mqctl_context_lag_available 0).
	Note string `json:"note,omitempty"`
}

// Readiness reports UP when every context's last successful poll is no
// older than interval + timeout: one missed poll is not yet an outage.
func (e *Exporter) Readiness() Readiness {
	now := e.opts.Now()
	bound := e.opts.Interval + e.opts.Timeout
	out := Readiness{Status: "UP", Contexts: map[string]ContextState{}}
	for _, s := range e.ctxs {
		s.mu.Lock()
		st := ContextState{Status: "DOWN", Rows: s.rows, Error: s.err, Note: s.unavailable}
		if s.polled {
			st.LastPoll = timePtr(s.lastAttempt)
			st.Duration = s.duration.Round(time.Millisecond).String()
		}
		if !s.lastSuccess.IsZero() {
			st.LastSuccess = timePtr(s.lastSuccess)
			if s.up && now.Sub(s.lastSuccess) <= bound {
				st.Status = "UP"
			}
		}
		if st.Status == "UP" {
			st.Error = ""
		} else if st.Error == "" {
			st.Error = "no poll answered within " + bound.String()
		}
		s.mu.Unlock()
		if st.Status != "UP" {
			out.Status = "DOWN"
		}
		out.Contexts[s.name] = st
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to tell it
}
