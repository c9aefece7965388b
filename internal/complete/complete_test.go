package complete

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"
	"github.com/mqctl/mqctl/internal/sandbox"
	"github.com/mqctl/mqctl/internal/testenv"
)

// A shell prints completion candidates raw: a group named with an escape
// sequence, a carriage return or a bidi override is not offered.
func TestNamesLeaveOutHostileNames(t *testing.T) {
	k := testenv.Kafka(t, sandbox.KafkaOptions{Extra: []kfake.Opt{kfake.SeedTopics(1, "orders")}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0})
	groups := []string{"billing", "b\x1b]0;owned\x07", "b\x1b[2J", "b\rx", "b\u202etxt", "b\xff", "bé"}
	for _, g := range groups {
		if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), g, offsets); err != nil {
			t.Fatalf("commit for group %q: %v", g, err)
		}
	}
	got := Names(context.Background(), broker.Target{URL: k.URL}, broker.NamesGroups, "b", nil)
	if want := []string{"billing", "bé"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}
