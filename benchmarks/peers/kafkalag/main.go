// Command kafkalag is the minimal franz-go lag reader `make bench` compares
// `mqctl lag -o json` against: kadm's Client.Lag for every classic group in
// the cluster (describe, fetch offsets, list start and end offsets), and
// nothing else. It prints nothing and exits 0 once the lag of every group is
// computed, 1 when any group or partition failed.
package main

import (
	"context"
	"fmt"
	"os"
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
	for _, l := range lags {
		for _, parts := range l.Lag {
			for _, p := range parts {
				if p.Err != nil {
					return fmt.Errorf("group %s topic %s partition %d: %w", l.Group, p.Topic, p.Partition, p.Err)
				}
			}
		}
	}
	return nil
}
