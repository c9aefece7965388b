package source

import (
	"errors"
	"testing"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestMatcher(t *testing.T) {
	all, err := Matcher(nil, false)
	if err != nil || all != nil {
		t.Fatalf("no names: got %v, %v; want nil (all)", all != nil, err)
	}
	exact, _ := Matcher([]string{"orders"}, false)
	if !exact("orders") || exact("orders2") {
		t.Error("exact matcher")
	}
	re, _ := Matcher([]string{"^ord"}, true)
	if !re("orders") || re("billing") {
		t.Error("regex matcher")
	}
	if _, err := Matcher([]string{"("}, true); mqerr.ExitCode(err) != mqerr.ExitUsage {
		t.Errorf("bad regex: %v, want a usage error", err)
	}
}

func TestMissingAndReport(t *testing.T) {
	rows := []lag.Row{{Group: "orders"}, {Queue: "q1"}, {Stream: "S"}}
	s := New(Config{Targets: []broker.Target{{Context: "a"}}, Names: []string{"orders", "q1", "nope"}})
	if got := s.Missing(rows); len(got) != 1 || got[0] != "nope" {
		t.Errorf("Missing = %v, want [nope]", got)
	}
	if s.Report(nil) != nil {
		t.Error("single target: Report must be nil")
	}
	m := New(Config{Targets: []broker.Target{{Context: "a"}, {Context: "b"}}, Multi: true})
	rep := m.Report([]lag.Failure{lag.NewFailure("b", errors.New("down"))})
	if rep == nil || !rep.Up["a"] || rep.Up["b"] || len(rep.Failures) != 1 {
		t.Errorf("Report = %+v", rep)
	}
	if m.Contexts() != 2 || FailedNames(rep.Failures) != "b" {
		t.Errorf("Contexts %d, FailedNames %q", m.Contexts(), FailedNames(rep.Failures))
	}
}

func TestMissingLine(t *testing.T) {
	if got := MissingLine([]string{"a"}, true); got != `no consumer group, queue or stream matches "a"` {
		t.Errorf("regex: %q", got)
	}
	if got := MissingLine([]string{"a", "b"}, false); got != `nothing to report for "a", "b": no consumer group or queue by that name, nor a JetStream stream with consumers` {
		t.Errorf("exact: %q", got)
	}
}

func TestConsumerLag(t *testing.T) {
	rows := []lag.Row{
		{Group: "billing", Topic: "orders", Partition: 0, Lag: 3},
		{Group: "billing", Topic: "orders", Partition: 1, Lag: 4},
		{Group: "billing", Topic: "audit", Lag: 100},                              // another topic of the group
		{Group: "other", Topic: "orders", Lag: 50},                                // another group
		{Stream: "ORDERS", Consumer: "work", Lag: 7},                              // the durable
		{Stream: "ORDERS", Consumer: "else", Lag: 9},                              // another consumer
		{Queue: "jobs", Lag: 11},                                                  // a queue: no topic, no consumer
		{Queue: "idle", Lag: 5, Stats: lag.StatsAbsent},                           // no figures
		{Group: "billing", Topic: "orders", Partition: 2, Stats: lag.StatsAbsent}, // no figures
	}
	for _, tc := range []struct {
		name, durable string
		sources       []string
		want          int64 // -1: nil
	}{
		{"billing", "", []string{"orders"}, 7},
		{"billing", "", []string{"orders", "audit"}, 107},
		{"billing", "", []string{"payments"}, -1},
		{"ORDERS", "work", []string{"ORDERS"}, 7},
		{"ORDERS", "", []string{"ORDERS"}, -1},
		{"jobs", "", []string{"jobs"}, 11},
		{"idle", "", []string{"idle"}, -1},
		{"missing", "", []string{"missing"}, -1},
	} {
		got := ConsumerLag(rows, tc.name, tc.sources, tc.durable)
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("%s %v %q: got %d, want nil", tc.name, tc.sources, tc.durable, *got)
		case tc.want >= 0 && (got == nil || *got != tc.want):
			t.Errorf("%s %v %q: got %v, want %d", tc.name, tc.sources, tc.durable, got, tc.want)
		}
	}
}
