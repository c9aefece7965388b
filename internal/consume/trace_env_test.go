package consume

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
)

// A message's W3C trace context reaches the handler as TRACEPARENT and
// TRACESTATE; mqctl's own never does.
func TestEnvTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	m := &broker.Message{Headers: []broker.Header{{Key: "traceparent", Value: []byte(tp)}, {Key: "tracestate", Value: []byte("congo=t61rcWkgMzE")}}}
	env := Env("kafka", m, 1)
	if !slices.Contains(env, "TRACEPARENT="+tp) || !slices.Contains(env, "TRACESTATE=congo=t61rcWkgMzE") {
		t.Errorf("env %q lacks the trace context", env)
	}
	m.Headers[0].Value = []byte("00-garbage")
	for _, kv := range Env("kafka", m, 1) {
		if strings.HasPrefix(kv, "TRACE") {
			t.Errorf("invalid traceparent passed on: %q", kv)
		}
	}
	got := handlerEnviron([]string{"PATH=/bin", "TRACEPARENT=" + tp, "TRACESTATE=a=1"}, nil, nil)
	if strings.Join(got, " ") != "PATH=/bin" {
		t.Errorf("handlers inherit mqctl's trace context: %q", got)
	}
}
