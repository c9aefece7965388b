// Command kafkaproduce is the minimal franz-go producer `make bench`
// compares mqctl against: it reads lines from a file and produces each one
// with acks=all, the idempotent producer and snappy compression (franz-go's
// defaults, and mqctl produce's; mqctl bench defaults to none and the
// bench row passes --compression snappy),
// then exits 0 only when every record was acknowledged.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: kafkaproduce BROKERS TOPIC FILE")
		os.Exit(2)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Args[1], ",")...), kgo.DefaultProduceTopic(os.Args[2]), kgo.MaxBufferedRecords(10000))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cl.Close()
	f, err := os.Open(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var failed atomic.Int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ctx := context.Background()
	for sc.Scan() {
		v := append([]byte(nil), sc.Bytes()...)
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil || failed.Load() > 0 {
		fmt.Fprintln(os.Stderr, "failed:", failed.Load(), err)
		os.Exit(1)
	}
}
