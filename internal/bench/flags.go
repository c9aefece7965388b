package bench

import (
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// CheckFlags refuses bad workload flags before connecting (ch says
// whether a flag was given), reads --payload-file and defaults the run to
// 10s.
func CheckFlags(ch func(string) bool, w *Workload, dest string, yes bool, payloadFile string) error {
	switch {
	case ch("count") && ch("duration"):
		return mqerr.Usagef("--count and --duration: give one of them")
	case ch("count") && w.Count < 1:
		return mqerr.Usagef("--count %d: want 1 or more", w.Count)
	case ch("duration") && w.Duration <= 0:
		return mqerr.Usagef("--duration %s: want more than 0", w.Duration)
	case w.Warmup < 0:
		return mqerr.Usagef("--warmup %s: want 0 or more", w.Warmup)
	case w.Producers < 1:
		return mqerr.Usagef("--producers %d: want 1 or more", w.Producers)
	case w.Consumers < 1:
		return mqerr.Usagef("--consumers %d: want 1 or more", w.Consumers)
	case w.InFlight < 1:
		return mqerr.Usagef("--in-flight %d: want 1 or more", w.InFlight)
	case ch("size") && payloadFile != "":
		return mqerr.Usagef("--size and --payload-file: give one of them")
	case w.Size < HeaderLen:
		return mqerr.Usagef("--size %d: want at least %d (the bench header)", w.Size, HeaderLen)
	case dest != "" && !yes:
		return mqerr.Usagef("--dest %s: writing into an existing destination needs --yes", dest)
	case w.Mode == "sub" && dest == "":
		return mqerr.Usagef("bench sub: reads an existing destination: give DEST (or --dest) and --yes")
	}
	if err := checkModeFlags(ch, w.Mode); err != nil {
		return err
	}
	if payloadFile != "" {
		b, err := os.ReadFile(payloadFile)
		if err != nil {
			return mqerr.Usagef("--payload-file: %v", err)
		}
		if len(b) < HeaderLen {
			return mqerr.Usagef("--payload-file %s: %d bytes, want at least %d (the bench header)", payloadFile, len(b), HeaderLen)
		}
		w.Payload, w.Size = b, len(b)
	}
	if w.Count == 0 && w.Duration == 0 {
		w.Duration = 10 * time.Second
	}
	return nil
}

// modeFlags are the workload flags that bench sub (which only reads) and
// bench pub (which only publishes) would ignore.
var modeFlags = map[string][]string{
	"sub": {"producers", "rate", "in-flight", "batch", "size", "payload-file"},
	"pub": {"consumers", "prefetch", "multi-ack"},
}

// checkModeFlags refuses a flag that mode would ignore: bench sub --rate
// does not read at that rate, it reads as fast as it can.
func checkModeFlags(ch func(string) bool, mode string) error {
	for _, f := range modeFlags[mode] {
		if ch(f) {
			doing := "only reads what another run sent"
			if mode == "pub" {
				doing = "only publishes"
			}
			return mqerr.Usagef("--%s: bench %s %s; the flag does not apply", f, mode, doing)
		}
	}
	return nil
}

// CheckKnobs refuses bad counts among the broker knobs (--partitions,
// --replicas, --prefetch, --batch, --multi-ack) before connecting and lets
// --batch N alone widen the in-flight window to N (a batch larger than the
// window would wait for room, not for its confirms).
func CheckKnobs(ch func(string) bool, w *Workload, k Knobs) error {
	switch {
	case ch("partitions") && k.Partitions < 1:
		return mqerr.Usagef("--partitions %d: want 1 or more", k.Partitions)
	case ch("replicas") && k.Replicas < 1:
		return mqerr.Usagef("--replicas %d: want 1 or more", k.Replicas)
	case ch("prefetch") && k.Prefetch < 1:
		return mqerr.Usagef("--prefetch %d: want 1 or more", k.Prefetch)
	case ch("batch") && w.Batch < 1:
		return mqerr.Usagef("--batch %d: want 1 or more", w.Batch)
	case ch("batch") && ch("in-flight") && w.InFlight < w.Batch:
		return mqerr.Usagef("--batch %d: over --in-flight %d; a batch waits for its confirms, so the window must hold it", w.Batch, w.InFlight)
	case ch("multi-ack") && k.MultiAck < 1:
		return mqerr.Usagef("--multi-ack %d: want 1 or more", k.MultiAck)
	case ch("multi-ack") && ch("prefetch") && k.MultiAck > k.Prefetch:
		return mqerr.Usagef("--multi-ack %d: over --prefetch %d; the broker would stop delivering before a batch of acks fills", k.MultiAck, k.Prefetch)
	}
	if ch("batch") && !ch("in-flight") {
		w.InFlight = max(w.InFlight, w.Batch)
	}
	return nil
}

// ParseRate reads --rate: a number of messages per second, or max.
func ParseRate(ch func(string) bool, w *Workload, rate string) (isMax bool, err error) {
	if !ch("rate") {
		return false, nil
	}
	if rate == "max" {
		return true, nil
	}
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return false, mqerr.Usagef("--rate %s: want messages per second above 0, or max (leave it out for unlimited)", rate)
	}
	w.Rate = r
	return false, nil
}

// CheckModes refuses --compare and --rate max where they do not fit, and
// gives a rate-search step its default length.
func CheckModes(ch func(string) bool, w *Workload, rateMax bool, p99Under time.Duration, compare []string, dest string) error {
	switch {
	case rateMax && !ch("p99-under"):
		return mqerr.Usagef("--rate max: give the bound to keep under with --p99-under (for example 50ms)")
	case ch("p99-under") && !rateMax:
		return mqerr.Usagef("--p99-under: applies to --rate max only")
	case ch("p99-under") && p99Under <= 0:
		return mqerr.Usagef("--p99-under %s: want more than 0", p99Under)
	case rateMax && ch("count"):
		return mqerr.Usagef("--rate max: each step runs --duration (default 5s); --count does not apply")
	case rateMax && w.Mode == "sub":
		return mqerr.Usagef("--rate max: bench sub does not publish; use pub or e2e")
	case (rateMax || len(compare) > 0) && dest != "":
		return mqerr.Usagef("--dest: --rate max and --compare create a destination for each run")
	case (rateMax || len(compare) > 0) && ch("csv"):
		return mqerr.Usagef("--csv: one timeline per run; not with --rate max or --compare")
	case rateMax && len(compare) > 0:
		return mqerr.Usagef("--rate max and --compare: give one of them")
	case ch("compare") && len(compare) < 2:
		return mqerr.Usagef("--compare %s: want two or more contexts, separated by commas", strings.Join(compare, ","))
	}
	for _, c := range compare {
		if strings.TrimSpace(c) == "" {
			return mqerr.Usagef("--compare %s: an empty context name", strings.Join(compare, ","))
		}
	}
	if rateMax && !ch("duration") {
		w.Duration = 5 * time.Second
	}
	return nil
}

// CheckCrossHost refuses --e2e-cross-host where no other process reads
// what the run sends: --compare, --rate max and --workers run their
// consumers in the process that sends (each worker of a distributed run,
// --workers or --worker, reads its own), and a bench pub without DEST
// sends to a destination it creates and deletes.
func CheckCrossHost(w Workload, rateMax bool, compare []string, distributed bool, dest string) error {
	if !w.CrossHost {
		return nil
	}
	switch {
	case rateMax || len(compare) > 0 || distributed:
		return mqerr.Usagef("--e2e-cross-host: --rate max, --compare, --workers and --worker read what they send in the same process, on its monotonic clock; the flag does not apply")
	case w.Mode == "pub" && dest == "":
		return mqerr.Usagef("--e2e-cross-host: bench pub would send to a destination it creates and deletes, which no other process reads; give the one bench sub reads (DEST or --dest) and --yes")
	}
	return nil
}
