package cmd

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/offsets"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

func TestNewCmdOffsetsOptions(t *testing.T) {
	cases := []struct {
		args []string
		want offsets.Request
		exec bool
	}{
		{[]string{"reset", "billing", "--to", "earliest", "--topic", "orders:3,0", "--topic", "audit", "--execute"},
			offsets.Request{Group: "billing", To: offsets.To{Kind: offsets.Earliest},
				Topics: []offsets.Topic{{Name: "orders", Partitions: []int32{0, 3}}, {Name: "audit"}}}, true},
		{[]string{"reset", "worker", "--to-seq", "42"}, offsets.Request{Group: "worker", To: offsets.To{Kind: offsets.Offset, N: 42}}, false},
		{[]string{"reset", "g", "--to", "shift=-7"}, offsets.Request{Group: "g", To: offsets.To{Kind: offsets.Shift, N: -7}}, false},
	}
	for _, tc := range cases {
		var got *OffsetsResetOptions
		cmd := NewCmdOffsets(newTestFactory(t), func(o *OffsetsResetOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !reflect.DeepEqual(got.Request, tc.want) || got.Execute != tc.exec {
			t.Errorf("%v: request %+v execute %v, want %+v %v", tc.args, got.Request, got.Execute, tc.want, tc.exec)
		}
	}
}

// TestOffsetsInProcessHostileGroup: a group name carrying escape
// sequences is shown escaped, in the plan's lines and in an error, on a
// terminal and in a pipe (which often ends in one).
func TestOffsetsInProcessHostileGroup(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders")}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	evil := "g\x1b]0;pwned\x07\x1b[31m"
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(context.Background(), evil, os); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MQCTL_URL": k.URL}
	for _, args := range [][]string{
		{"offsets", "reset", evil, "--to", "latest"},
		{"offsets", "reset", evil + "x", "--to", "latest"},
	} {
		for name, r := range ttyAndPipe(t, env, args...) {
			if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") || !strings.Contains(r.stderr, `g\x1b]0;pwned\x07`) {
				t.Errorf("%s %q: exit %d stdout %q stderr %q", name, args, r.code, r.stdout, r.stderr)
			}
		}
	}
}
