// Command kafkameasure is kafkaproduce plus the measuring a load test
// needs, written as plainly as it can be: the floor under
// `mqctl bench pub` on Kafka at an unlimited rate. It produces COUNT
// records of SIZE bytes with franz-go's defaults (acks=all, idempotent,
// snappy) and at most WINDOW buffered, as kafkaproduce does; it also
// takes each payload from a ring of WINDOW+1 buffers, stamps it with a
// sequence number and its send time, and records each record's
// send→confirm latency in an HDR histogram (under a lock, as a run
// that reports every second must) before giving the buffer back.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

type slot struct {
	b    []byte
	sent time.Duration
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: kafkameasure BROKERS TOPIC COUNT SIZE WINDOW")
		os.Exit(2)
	}
	count, _ := strconv.Atoi(os.Args[3])
	size, _ := strconv.Atoi(os.Args[4])
	window, _ := strconv.Atoi(os.Args[5])
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Args[1], ",")...), kgo.DefaultProduceTopic(os.Args[2]), kgo.MaxBufferedRecords(window))
	check(err)
	defer cl.Close()

	var mu sync.Mutex
	confirm := hdr.New(1, int64(time.Hour/time.Microsecond), 3)
	var failed atomic.Int64
	ring := make(chan *slot, window+1)
	for range window + 1 {
		ring <- &slot{b: make([]byte, max(size, 32))}
	}
	start := time.Now()
	ctx := context.Background()
	for i := range count {
		s := <-ring
		s.sent = time.Since(start)
		binary.BigEndian.PutUint64(s.b[16:], uint64(i))
		binary.BigEndian.PutUint64(s.b[24:], uint64(s.sent))
		cl.Produce(ctx, &kgo.Record{Value: s.b}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			} else {
				us := max(1, (time.Since(start) - s.sent).Microseconds())
				mu.Lock()
				_ = confirm.RecordValue(us)
				mu.Unlock()
			}
			ring <- s
		})
	}
	if err := cl.Flush(ctx); err != nil || failed.Load() > 0 {
		fmt.Fprintln(os.Stderr, "failed:", failed.Load(), err)
		os.Exit(1)
	}
	fmt.Printf("confirm p50 %dus p99 %dus; %d confirmed\n", confirm.ValueAtQuantile(50), confirm.ValueAtQuantile(99), confirm.TotalCount())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
