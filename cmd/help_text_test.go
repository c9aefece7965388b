package cmd

import (
	"strings"
	"testing"
)

// Help says what flags do on every broker that uses them, and what a
// command needs (issue 16 item I).
func TestHelpTellsWhatHappens(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, bad []string
	}{
		// Kafka takes --prefetch too: records per poll.
		{[]string{"consume", "--help"}, []string{"JetStream max ack pending); Kafka: records handed out per poll"}, nil},
		// A --failed-out file is resent to a DEST named again, which
		// replaces the file's topic, exchange or subject.
		{[]string{"produce", "--help"}, []string{"'mqctl produce DEST --format jsonl --file FILE'. DEST (or --queue) is required and replaces the\nfile's topic, exchange or subject"},
			[]string{"as is"}},
	} {
		r := runInProcess(t, false, nil, tc.args...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", tc.args, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v does not say %q", tc.args, w)
			}
		}
		for _, b := range tc.bad {
			if strings.Contains(r.stdout, b) {
				t.Errorf("%v says %q", tc.args, b)
			}
		}
	}
}
