// Command kafkaconsume is the minimal franz-go consumer `make bench`
// compares `mqctl consume -o raw` against: it reads N records of TOPIC from
// the start of every partition, without a group, and writes each value and
// a newline to stdout through one buffer.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: kafkaconsume BROKERS TOPIC N")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[3])
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Args[1], ",")...), kgo.ConsumeTopics(os.Args[2]),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cl.Close()
	w := bufio.NewWriterSize(os.Stdout, 256<<10)
	ctx := context.Background()
	for seen := 0; seen < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fs.EachRecord(func(r *kgo.Record) {
			w.Write(r.Value)
			w.WriteByte('\n')
			seen++
		})
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
