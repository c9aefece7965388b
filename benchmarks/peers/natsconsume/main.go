// Command natsconsume is the minimal nats.go JetStream consumer `make bench`
// compares `mqctl consume` against: an ephemeral pull consumer with
// explicit acks and MaxAckPending PREFETCH, each value written to stdout and
// the buffer flushed before the batch is acked, until N were acked.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: natsconsume URL STREAM N PREFETCH")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[3])
	prefetch, _ := strconv.Atoi(os.Args[4])
	nc, err := nats.Connect(os.Args[1])
	check(err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	check(err)
	ctx := context.Background()
	cons, err := js.CreateConsumer(ctx, os.Args[2], jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: prefetch})
	check(err)
	it, err := cons.Messages(jetstream.PullMaxMessages(prefetch))
	check(err)
	defer it.Stop()
	w := bufio.NewWriterSize(os.Stdout, 256<<10)
	batch := make([]jetstream.Msg, 0, prefetch)
	for seen := 0; seen < n; {
		m, err := it.Next()
		check(err)
		w.Write(m.Data())
		w.WriteByte('\n')
		batch = append(batch, m)
		seen++
		if len(batch) == cap(batch) || seen == n {
			check(w.Flush())
			for _, m := range batch {
				check(m.Ack())
			}
			batch = batch[:0]
		}
	}
	// The last acks must reach the server before the connection closes.
	check(nc.Flush())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
