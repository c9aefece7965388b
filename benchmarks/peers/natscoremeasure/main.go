// Command natscoremeasure is natscorerate plus the measuring a load test
// needs, written as plainly as it can be: the floor under
// `mqctl bench pub --core --rate R`'s CPU per message. Like natscorerate
// it sends COUNT messages of SIZE bytes at RATE msgs/s, each at its
// intended time start + i/RATE; it also records each message's publish
// delay (actual minus intended send time) in an HDR histogram, and a
// second goroutine flushes (PING/PONG) after every FLUSH messages, or
// 5 ms after the last flush, and records for each message flushed its
// latency from its intended send time, as mqctl's core NATS producer
// does (the window of 256 mqctl bench uses by default flushes every 128).
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: natscoremeasure URL SUBJECT COUNT RATE SIZE FLUSH")
		os.Exit(2)
	}
	count, _ := strconv.Atoi(os.Args[3])
	rate, _ := strconv.ParseFloat(os.Args[4], 64)
	size, _ := strconv.Atoi(os.Args[5])
	every, _ := strconv.Atoi(os.Args[6])
	nc, err := nats.Connect(os.Args[1])
	check(err)
	defer nc.Close()
	delay := hdr.New(1, int64(time.Hour/time.Microsecond), 3)
	confirm := hdr.New(1, int64(time.Hour/time.Microsecond), 3)

	// The flusher settles what was sent before its PING.
	var mu sync.Mutex
	var batch, spare []time.Duration // intended send times
	kick := make(chan struct{}, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		idle := time.NewTimer(5 * time.Millisecond)
		for {
			select {
			case <-kick:
			case <-idle.C:
			case <-stop:
			}
			mu.Lock()
			b := batch
			batch, spare = spare[:0], nil
			mu.Unlock()
			if len(b) > 0 {
				check(nc.FlushTimeout(time.Minute))
				now := time.Since(start)
				for _, t := range b {
					_ = confirm.RecordValue(max(1, (now - t).Microseconds()))
				}
			}
			spare = b
			select {
			case <-stop:
				if len(b) == 0 {
					return
				}
			default:
			}
			idle.Reset(5 * time.Millisecond)
		}
	}()

	b := make([]byte, max(size, 32))
	for i := range count {
		intended := time.Duration(float64(i) / rate * float64(time.Second))
		if d := time.Until(start.Add(intended)); d > 0 {
			time.Sleep(d)
		}
		sent := time.Since(start)
		binary.BigEndian.PutUint64(b[16:], uint64(i))
		binary.BigEndian.PutUint64(b[24:], uint64(intended))
		_ = delay.RecordValue(max(1, (sent - intended).Microseconds()))
		check(nc.Publish(os.Args[2], b))
		mu.Lock()
		batch = append(batch, intended)
		full := len(batch) >= every
		mu.Unlock()
		if full {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	close(stop)
	<-done
	check(nc.LastError())
	fmt.Printf("delay p50 %dus p99 %dus; confirm p50 %dus p99 %dus; %d confirmed\n",
		delay.ValueAtQuantile(50), delay.ValueAtQuantile(99), confirm.ValueAtQuantile(50), confirm.ValueAtQuantile(99), confirm.TotalCount())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
