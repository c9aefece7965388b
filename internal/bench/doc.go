// Package bench is `mqctl bench`: a load test built on the drivers'
// producers and consumers (the same confirm and ack code produce and
// consume use). Latencies go into HDR histograms; under a fixed rate they
// are measured from each message's intended send time, so a stalled broker
// shows in the percentiles (no coordinated omission). Every payload carries
// run id, producer id and sequence, so the run also reports what was lost
// or duplicated. Lead and Work spread a run over processes on several
// hosts that coordinate through the broker itself (protocol.go says how).
// The peers `make bench` measures mqctl against live in
// benchmarks/peers, outside this package.
package bench
