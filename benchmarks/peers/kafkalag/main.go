// Command kafkalag is the minimal franz-go lag reader `make bench` compares
// `mqctl lag -o json` against, doing the same work: kadm's Client.Lag for
// every classic group in the cluster (describe, fetch offsets, list start
// and end offsets), then one row per group partition with the fields mqctl
// prints for it, ordered as mqctl orders them (biggest lag first, then
// group, topic, partition), written to stdout as one indented JSON array
// by encoding/json. It exits 0 once every row is written, 1 when any group
// or partition failed.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kafkalag BROKERS")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kafkalag:", err)
		os.Exit(1)
	}
}

func run(brokers string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	// No group names: kadm lists all groups itself.
	lags, err := kadm.NewClient(cl).Lag(ctx)
	if err != nil {
		return err
	}
	if err := lags.Error(); err != nil {
		return err
	}
	var rows []row
	for _, l := range lags {
		for _, parts := range l.Lag {
			for _, p := range parts {
				if err := cmp.Or(p.Err, p.Start.Err); err != nil {
					return fmt.Errorf("group %s topic %s partition %d: %w", l.Group, p.Topic, p.Partition, err)
				}
				r := row{Broker: "kafka", Kind: "partition", Group: l.Group, Topic: p.Topic,
					Partition: p.Partition, End: p.End.Offset, Lag: p.Lag,
					State: l.State}
				if p.Member != nil {
					r.Member, r.ClientID = p.Member.MemberID, p.Member.ClientID
				}
				if p.Commit.At >= 0 {
					r.Committed = &p.Commit.At
				}
				rows = append(rows, r)
			}
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(b.Lag, a.Lag) })
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return err
	}
	return w.Flush()
}

// row has the fields and JSON names `mqctl lag -o json` prints for a Kafka
// group partition.
type row struct {
	Broker    string `json:"broker"`
	Kind      string `json:"kind"`
	Group     string `json:"group,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	Committed *int64 `json:"committed,omitempty"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Member    string `json:"member,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	State     string `json:"state,omitempty"`
}
