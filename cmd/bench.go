package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/bench"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// BenchOptions is what `mqctl bench` needs once its flags are parsed and
// checked (before any connection).
type BenchOptions struct {
	IO       *output.Streams
	Format   output.Format
	Open     func(ctx context.Context) (broker.Conn, broker.Target, error)
	Ctx      context.Context
	Workload bench.Workload
	Knobs    bench.Knobs
	// Dest is an existing destination (--dest or DEST, with --yes); empty
	// makes the bench create mqctl-bench-<id> and delete it unless Keep.
	Dest string
	Keep bool
	// Changed says whether a flag was given, to refuse flags of another
	// broker; FlagValue is a given flag's value, kept in the summary.
	Changed   func(name string) bool
	FlagValue func(name string) string
	Warnf     func(format string, args ...any)
	// CSV is the file the per-second timeline goes to ("" for none).
	CSV string
	// DropEvery is a test hook (bench.Env.DropEvery).
	DropEvery int64
	// Compare names contexts to run the workload on in turn (--compare).
	Compare     []string
	OpenContext func(ctx context.Context, name string) (broker.Conn, broker.Target, error)
	// RateMax searches the highest rate whose p99 publish→confirm stays
	// under P99Under (--rate max --p99-under D).
	RateMax  bool
	P99Under time.Duration
	// Worker joins a distributed run (--worker); Workers > 0 leads one of
	// that many workers (--workers N). JoinTimeout bounds the wait for
	// the others; Logf reports joins and missing workers on stderr.
	Worker      bool
	Workers     int
	JoinTimeout time.Duration
	Logf        func(format string, args ...any)
}

// NewCmdBench builds `mqctl bench [pub|sub|e2e] [DEST]`.
func NewCmdBench(f *Factory, runF func(*BenchOptions) error) *cobra.Command {
	var w bench.Workload
	var k bench.Knobs
	var dest, payloadFile, csvFile, rate string
	var compare []string
	idempotent, confirm := true, true
	var p99Under time.Duration
	var yes, keep, worker bool
	var workers int
	joinTimeout := time.Minute
	cmd := &cobra.Command{
		Use:   "bench [pub|sub|e2e] [DEST]",
		Short: "Load-test the broker: throughput, latency from HDR histograms, and lost or duplicated messages",
		Long: `Load-test the context's broker with the same producers (confirms) and consumers (acks)
produce and consume use. e2e (the default) runs producers and consumers together; pub only
publishes, sub only consumes an existing destination.

The bench creates its own destination mqctl-bench-<id> and deletes it at the end unless --keep;
an existing destination needs --dest NAME (or DEST) and --yes. Under --rate R (messages per
second over all producers) each message has an intended send time t0 + i/R and latencies are
measured from it, so a stalled broker shows in the percentiles. Every payload carries producer id
and sequence number: messages confirmed but never received are reported as lost (exit 3).

Beyond one machine: mqctl bench --worker on each host joins the run that mqctl bench --workers N
leads; they coordinate through the broker itself (destination mqctl-bench-control and one inbox
per worker). --count and --rate are totals split over the workers; --producers, --consumers and
--in-flight are each worker's. Every worker sends and receives in a destination of its own and
the leader merges their histograms. A worker that goes silent for 10s is reported missing and
the run exits 3 with the merged result of the others. Give --core to the leader and the workers
alike on core NATS.

End-to-end latency across processes or hosts: start bench sub DEST --yes --e2e-cross-host, then
bench pub DEST --yes --e2e-cross-host anywhere else. The payloads then carry the intended send
time as wall-clock Unix ns, and sub subtracts it from its own wall clock at receipt. Both hosts'
clocks must agree (NTP, chrony, PTP): any offset between them is added to or subtracted from
every figure, and a value below zero (the clocks disagree by more than the latency) is counted
and reported, not recorded. e2e without the flag (the default: consumers in the same process)
uses the monotonic clock and needs none of this. The summary and -o json (e2e_clock) say which clock was used; bench sub without
the flag, or given payloads without wall-clock times, says end-to-end latency was not measured.

bench sub accounts for what it reads by run id, producer id and sequence: runs and producers
seen, received, duplicated (the same message again), gaps (sequences never received below the
highest one received from that producer) and foreign messages (not bench payloads), apart. It
cannot know what pub confirmed: a gap is not proof of loss (pub may have failed to send it, or a
retention limit dropped it), and a message lost after a producer's last one received is not seen
at all; bench pub's own summary, or e2e, says what was confirmed. So sub exits 0 with gaps or
duplicates (130 interrupted; an error keeps its own code); exit 3 stays for confirmed messages
never received.`,
		Example: `  mqctl bench --duration 30s --producers 4 --consumers 4 --size 512
  mqctl bench pub --count 1000000 --rate 50000 -c prod-kafka --acks all
  mqctl bench --rate max --p99-under 20ms --duration 20s
  mqctl bench --compare dev-kafka,dev-nats --duration 10s
  mqctl bench --workers 3 --count 3000000     # then 'mqctl bench --worker' on three hosts
  mqctl bench sub q --yes --e2e-cross-host    # on host B (clocks in sync), then on host A:
  mqctl bench pub q --yes --e2e-cross-host --count 100000 --rate 10000`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w.Mode = "e2e"
			if worker {
				if err := bench.CheckCrossHost(w, false, nil, true, ""); err != nil {
					return err
				}
				if err := checkBenchWorker(cmd, args, joinTimeout); err != nil {
					return err
				}
				format, err := f.Format()
				if err != nil {
					return err
				}
				opts := &BenchOptions{IO: f.IO, Format: format, Open: f.Open, Ctx: cmd.Context(), Knobs: k,
					Worker: true, JoinTimeout: joinTimeout, Warnf: f.Warnf, Changed: cmd.Flags().Changed,
					Logf: func(format string, args ...any) { f.Logf(0, format, args...) }}
				if runF != nil {
					return runF(opts)
				}
				return benchRun(opts)
			}
			if len(args) > 0 {
				switch args[0] {
				case "pub", "sub", "e2e":
					w.Mode, args = args[0], args[1:]
				}
			}
			if len(args) > 1 {
				return mqerr.Usagef("bench: want [pub|sub|e2e] [DEST], got %q", args)
			}
			if len(args) == 1 {
				if dest != "" && dest != args[0] {
					return mqerr.Usagef("bench: DEST %q and --dest %q differ", args[0], dest)
				}
				dest = args[0]
			}
			rateMax, err := bench.ParseRate(cmd.Flags().Changed, &w, rate)
			if err != nil {
				return err
			}
			if err := bench.CheckModes(cmd.Flags().Changed, &w, rateMax, p99Under, compare, dest); err != nil {
				return err
			}
			if err := bench.CheckFlags(cmd.Flags().Changed, &w, dest, yes, payloadFile); err != nil {
				return err
			}
			if err := checkBenchLeader(cmd, &w, workers, joinTimeout, rateMax, compare, dest); err != nil {
				return err
			}
			if err := bench.CheckCrossHost(w, rateMax, compare, workers > 0, dest); err != nil {
				return err
			}
			k.NoIdempotence, k.NoConfirm = !idempotent, !confirm
			if err := bench.CheckKnobs(cmd.Flags().Changed, &w, k); err != nil {
				return err
			}
			if k.Linger < 0 {
				return mqerr.Usagef("--linger %s: want 0 or more", k.Linger)
			}
			format, err := f.Format()
			if err != nil {
				return err
			}
			opts := &BenchOptions{IO: f.IO, Format: format, Open: f.Open, Ctx: cmd.Context(), Workload: w, Knobs: k,
				Dest: dest, Keep: keep, CSV: csvFile, Changed: cmd.Flags().Changed, Warnf: f.Warnf,
				Compare: compare, OpenContext: f.OpenContext, RateMax: rateMax, P99Under: p99Under,
				Workers: workers, JoinTimeout: joinTimeout, Logf: func(format string, args ...any) { f.Logf(0, format, args...) },
				FlagValue: func(name string) string { return cmd.Flags().Lookup(name).Value.String() }}
			if runF != nil {
				return runF(opts)
			}
			return benchRun(opts)
		},
	}
	cmd.AddCommand(NewCmdBenchCompare(f, nil))
	fl := cmd.Flags()
	fl.IntVar(&w.Producers, "producers", 1, "producer count")
	fl.IntVar(&w.Consumers, "consumers", 1, "consumer count")
	fl.IntVar(&w.Size, "size", 1024, "payload size in bytes (at least the 32-byte bench header)")
	fl.StringVar(&payloadFile, "payload-file", "", "payload template (its first 32 bytes carry the bench header)")
	fl.Int64Var(&w.Count, "count", 0, "messages to send (over all producers; default: --duration 10s)")
	fl.DurationVar(&w.Duration, "duration", 0, "how long to send, after --warmup")
	fl.DurationVar(&w.Warmup, "warmup", 0, "send this long first without recording latencies")
	fl.StringVar(&rate, "rate", "", "messages per second over all producers (open model); unlimited when not given; max searches (with --p99-under)")
	fl.DurationVar(&p99Under, "p99-under", 0, "with --rate max: the p99 publish→confirm bound the rate search keeps under")
	fl.StringSliceVar(&compare, "compare", nil, "run the same workload on each of these contexts in turn and compare (ctxA,ctxB,...)")
	fl.IntVar(&w.InFlight, "in-flight", 256, "messages published but not confirmed, per producer")
	fl.IntVar(&w.Batch, "batch", 0, "publish N messages, then wait until all are confirmed (flushed on core NATS) before the next N")
	fl.StringVar(&dest, "dest", "", "use this existing destination instead of creating one (needs --yes)")
	fl.BoolVar(&yes, "yes", false, "agree to write into an existing destination")
	fl.BoolVar(&keep, "keep", false, "keep the destination the bench created")
	fl.BoolVar(&worker, "worker", false, "join the distributed run a bench --workers N on this broker leads (the workload comes from the leader)")
	fl.IntVar(&workers, "workers", 0, "lead a distributed run of N bench --worker processes (anywhere that reaches the broker)")
	fl.DurationVar(&joinTimeout, "join-timeout", time.Minute, "with --workers or --worker: how long to wait for the other side")
	fl.StringVar(&csvFile, "csv", "", "write the per-second timeline to this CSV file")
	fl.BoolVar(&w.CrossHost, "e2e-cross-host", false, "pub and e2e: stamp payloads with the wall-clock send time; sub: measure end-to-end latency from it (the hosts' clocks must agree)")
	nonEmpty(fl, "payload-file", "dest", "csv")
	fl.IntVar(&k.Prefetch, "prefetch", 0, "deliveries per consumer not yet acked (AMQP qos, JetStream max ack pending)")
	fl.StringVar(&k.Acks, "acks", "", "Kafka: all (default, idempotent), 1 or 0")
	fl.StringVar(&k.Compression, "compression", "none", "Kafka: none, gzip, snappy, lz4 or zstd; not produce's snappy by default: the payload is zeros after its header, so a codec would send far fewer bytes than --size (give snappy to match produce, or --payload-file with real data)")
	fl.IntVar(&k.Partitions, "partitions", 1, "Kafka: partitions of the topic the bench creates")
	fl.DurationVar(&k.Linger, "linger", 0, "Kafka: wait this long for more records before a batch goes (linger.ms)")
	fl.BoolVar(&idempotent, "idempotent", true, "Kafka: the idempotent producer (with --acks all; --idempotent=false turns it off)")
	fl.BoolVar(&k.Persistent, "persistent", false, "RabbitMQ: persistent messages (delivery mode 2)")
	fl.StringVar(&k.QueueType, "queue-type", "classic", "RabbitMQ: classic, quorum or stream")
	fl.BoolVar(&confirm, "confirm", true, "RabbitMQ: publisher confirms (--confirm=false publishes without: messages are only written)")
	fl.IntVar(&k.MultiAck, "multi-ack", 0, "RabbitMQ: ack every N deliveries with one multiple ack (N <= --prefetch, default 100)")
	fl.BoolVar(&k.Core, "core", false, "NATS: core NATS instead of JetStream (no confirms: flushed only)")
	fl.StringVar(&k.Storage, "storage", "", "JetStream: file (default) or memory")
	fl.IntVar(&k.Replicas, "replicas", 0, "JetStream: stream replicas (default 1)")
	fl.BoolVar(&k.Sync, "sync", false, "JetStream: wait for each PubAck before the next publish (an in-flight window of one)")
	return cmd
}
