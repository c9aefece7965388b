// Command natscorerate is the minimal rate-limited core NATS publisher
// `make bench` compares `mqctl bench pub --core --rate R` against for CPU
// per message: COUNT messages of SIZE bytes at RATE msgs/s, each sent at
// its intended time start + i/RATE (sleeping when ahead, as mqctl does),
// each carrying a sequence number and its send time, then one flush.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: natscorerate URL SUBJECT COUNT RATE SIZE")
		os.Exit(2)
	}
	count, _ := strconv.Atoi(os.Args[3])
	rate, _ := strconv.ParseFloat(os.Args[4], 64)
	size, _ := strconv.Atoi(os.Args[5])
	nc, err := nats.Connect(os.Args[1])
	check(err)
	defer nc.Close()
	b := make([]byte, max(size, 16))
	start := time.Now()
	for i := range count {
		intended := time.Duration(float64(i) / rate * float64(time.Second))
		if d := time.Until(start.Add(intended)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(b, uint64(i))
		binary.BigEndian.PutUint64(b[8:], uint64(time.Since(start)))
		check(nc.Publish(os.Args[2], b))
	}
	check(nc.FlushTimeout(time.Minute))
	check(nc.LastError())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
