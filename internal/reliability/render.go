package reliability

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Meta says where and when the figures were measured.
type Meta struct {
	Date    string // 2026-12-06
	Machine string // "2 cores, linux/amd64"
	Go      string
	Commit  string
	// Runs is the run count asked for ($MQCTL_RELIABILITY_RUNS).
	Runs int
	// Seconds is how long the suite took.
	Seconds float64
}

// Doc is what RELIABILITY.md shows.
type Doc struct {
	// Meta and Scenarios are the fault scenarios' run.
	Meta      Meta
	Scenarios []Result
	// Kept, when not "", is the scenario part of an earlier RELIABILITY.md
	// (KeptScenarios), written as it was in place of Meta and Scenarios:
	// for a run that measured the fuzz targets and the leak test alone.
	Kept string
	// Measured says where and when Fuzz and Leak were measured.
	Measured Meta
	// Fuzz is nil when no fuzz target ran, Leak when the leak test did not.
	Fuzz []Fuzz
	Leak *Leak
}

// Render writes RELIABILITY.md for rs alone.
func Render(w io.Writer, m Meta, rs []Result) error {
	return Write(w, Doc{Meta: m, Scenarios: rs})
}

// Write writes RELIABILITY.md for d.
func Write(w io.Writer, d Doc) error {
	var b strings.Builder
	if d.Kept != "" {
		b.WriteString(d.Kept)
	} else {
		writeScenarios(&b, d.Meta, d.Scenarios)
	}
	if d.Fuzz != nil {
		writeFuzz(&b, d.Measured, d.Fuzz)
	}
	if d.Leak != nil {
		writeLeak(&b, d.Measured, *d.Leak)
	}
	writeNotMeasured(&b, d)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeScenarios(b *strings.Builder, m Meta, rs []Result) {
	b.WriteString("# Reliability\n\n")
	fmt.Fprintf(b, "Written by `make reliability` on %s (%s, %s) at commit %s: each fault scenario ran %s, in %.0f s.\n",
		m.Date, m.Machine, m.Go, m.Commit, runsPhrase(m.Runs, rs), m.Seconds)
	b.WriteString("Figures come from that run (`internal/reliability` renders the JSON lines the scenarios wrote);\n")
	b.WriteString("nothing here is typed by hand. `make test` runs a bounded subset: each scenario once (the\n")
	b.WriteString("injected-error ones with a quarter of their messages), and not the RabbitMQ node restarts.\n\n")
	b.WriteString("**Lost** counts messages that had to survive (confirmed by the broker, or still in the\n")
	b.WriteString("source until acknowledged) and were found nowhere afterwards: read back with an independent\n")
	b.WriteString("client (franz-go kgo, amqp091-go, nats.go). A loss fails the scenario's test. **Duplicated**\n")
	b.WriteString("counts extra copies, which at-least-once delivery allows after a crash or a fault. Issue 15's\n")
	b.WriteString("goal is duplicates within the in-flight window (`--in-flight`, `--prefetch`); read them with\n")
	b.WriteString("the notes: where a killed `produce` is followed by a rerun of the whole input, every line the\n")
	b.WriteString("killed run had stored comes again by design, and a Kafka group member commits once a second.\n\n")
	b.WriteString("| scenario | runs | messages | lost | duplicated | result | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %s | %s |\n",
			cell(r.Scenario), r.Runs, r.Messages, r.Lost, r.Duplicated, verdict(r), cell(r.Notes))
	}
	t := Totals(rs)
	fmt.Fprintf(b, "| **all %d scenarios** | %d | %d | **%d** | %d | %s | |\n\n", len(rs), t.Runs, t.Messages, t.Lost, t.Duplicated, verdict(t))
	b.WriteString(howTo)
}

const howTo = `## How the scenarios work

Each scenario is a test in ` + "`cmd/reliability_*_e2e_test.go`" + ` (` + "`TestReliability...`" + `) against real
brokers: kfake and nats-server in the test process, the test RabbitMQ node. A run uses fresh
topics, queues and streams, then:

- **kill -9 of produce**: ` + "`mqctl produce`" + ` of a file is killed at a random moment, then run again
  on the same file to the end. Nothing is written to ` + "`--failed-out`" + ` by a killed process, so
  the promise is that the rerun leaves every line in the broker; lines sent twice are duplicates.
- **kill -9 of consume**: ` + "`consume --group`" + ` (Kafka) or ` + "`--consumer`" + ` (a JetStream durable) writing
  ` + "`-o jsonl`" + ` to a file is killed at a random moment, then a second run reads on; the two files
  together must hold every message.
- **kill -9 of dlq replay**: a replay (Kafka ` + "`.DLT`" + ` to its topic, RabbitMQ DLQ to its queue) is
  killed at a random moment and run again; every dead letter must reach the target.
- **kfake faults**: a fraction of Produce requests answered NOT_LEADER_FOR_PARTITION or
  REQUEST_TIMED_OUT; a fraction of OffsetCommit requests answered COORDINATOR_NOT_AVAILABLE and
  of Fetch partitions NOT_LEADER_FOR_PARTITION during ` + "`consume --group`" + `. A produced line must be
  in the topic or in ` + "`--failed-out`" + `.
- **Kafka dropped connections**: kfake closes the client's connection instead of answering a few
  requests picked at random among the first ones of a run (a control function that returns an
  error), before the broker acts on them: 3 of the first 30 Produce requests during ` + "`produce`" + `,
  and during ` + "`consume --group`" + ` the first Fetch and one of the next two, and the first
  OffsetCommit (every other run its retry too). The drops are counted as they happen, not
  assumed. A produced line must be in the topic or in ` + "`--failed-out`" + `; a second consume run
  fills every gap.
- **RabbitMQ connections closed by the server** (the management API's DELETE of mqctl's
  connections in the test's vhost, which is what ` + "`rabbitmqctl close_all_connections`" + ` does per
  connection, without closing other tests' connections on the shared node), mid-produce and
  mid-consume.
- **RabbitMQ node restart**: a node of the scenario's own (started once, reused by its runs) is
  stopped with ` + "`rabbitmqctl stop`" + ` and started again on the same ports and data directory
  mid-produce (persistent messages, durable queue) and mid-consume (acked after output).
  Messages stored but not yet confirmed when the node went down fail with CONNECTION_FORCED,
  go to ` + "`--failed-out`" + ` and are resent: those are the duplicates.
- **RabbitMQ consumer_timeout**: RabbitMQ 3.10 has the timeout only node-wide, so a node of the
  scenario's own runs with ` + "`consumer_timeout = 5000`" + ` and a 1 s ` + "`channel_tick_interval`" + `
  (advanced.config; the default 60 s tick is when the timeout is checked, so it fires 5-6 s after
  a delivery instead of up to 65 s). ` + "`consume --exec`" + `'s handler sleeps 8 s on the first
  message, once: the broker closes the channel, mqctl says so in one line naming the timeout,
  subscribes again and handles what comes again; the handler's file must hold every message:
  the slow one twice (its handler finished after the close, so its ack failed), every other
  once (those fetched behind it are given back unhandled with the channel).
- **RabbitMQ consumer_timeout, every time**: a node of the scenario's own with
  ` + "`consumer_timeout = 2000`" + ` and the 1 s tick; every run of ` + "`consume --exec`" + `'s handler sleeps
  6 s, then exits 0, or 1 with ` + "`--on-fail reject`" + ` to a DLX queue. mqctl must stop once the
  broker took the same message back twice, with exit 3 and one line naming the queue, the
  timeout and what to raise (it used to run the handler on that message forever); the handler
  ran on the first message only, twice, and afterwards every message is in the queue, none
  acked or rejected.
- **NATS server restart**: the embedded server is shut down and started again on the same
  port and store directory mid-produce and mid-consume.
- **kill -9 of consume --exec**: the handler appends each value to a file and mqctl acks after it
  exited 0; mqctl is killed at a random moment, a second run goes to the end, and the file must
  hold every message (twice when handled but not yet acked at the kill).
- **kill -9 of dlq move across brokers** (a Kafka ` + "`.DLT`" + ` to a RabbitMQ queue, a RabbitMQ DLQ to a
  JetStream stream): after the kill every dead letter is in the target or still in the source
  (Kafka: not committed by the move's group; RabbitMQ: back in the queue).
- **RabbitMQ queue deleted mid-replay** (the target, or the source): mqctl must exit non-zero
  with one line naming the queue; every dead letter is in the target (read by the test as it
  arrives), still in the source, or removed by the deletion itself. RabbitMQ confirms a message
  routed to a queue that is being deleted and then drops it with the queue (amqp091-go alone
  shows the same); those, the run just before the first message returned as unroutable, are
  reported in the notes, not counted as lost.
- **JetStream R3 leader step-down**: three embedded nats-servers in one cluster, an R3 stream;
  the stream's leader (and, mid-consume, the durable's leader) is asked to step down through
  the JetStream API.
- **Kafka partition leaders moved**: a 3-broker kfake cluster, a 4-partition topic; from the
  first stored record (or the first output) until mqctl ends, rounds a few milliseconds apart
  move every partition's leader to another broker, and mid-consume rehash the group
  coordinator onto another broker. The moves are counted from kfake's ` + "`LeaderFor`" + ` and
  ` + "`CoordinatorFor`" + ` before and after, not assumed.

After a fault, a run that did not end with exit 0 is followed by a recovery run, as an
operator would do it: ` + "`--failed-out`" + ` resent when the exit was 3, the whole input again otherwise.

Regenerate with ` + "`make reliability`" + ` (20 runs per scenario; ` + "`MQCTL_RELIABILITY_RUNS=N`" + ` to change);
the test log goes to RELIABILITY.log.

`

const (
	fuzzHeading        = "## Fuzz targets"
	leakHeading        = "## Secret-leak test"
	notMeasuredHeading = "## Not measured yet"
)

func writeFuzz(b *strings.Builder, m Meta, fs []Fuzz) {
	b.WriteString(fuzzHeading + "\n\n")
	fmt.Fprintf(b, "Measured by `scripts/fuzz.sh` (which `make reliability` runs) on %s (%s, %s) at commit %s:\n", m.Date, m.Machine, m.Go, m.Commit)
	b.WriteString("each target fuzzed for its fuzz time, one after the other, with one worker per core, on top of its\n")
	b.WriteString("committed seeds (`f.Add` in the test, and the package's `testdata/fuzz/`). A finding fails the\n")
	b.WriteString("run; go test saves the failing input under the package's `testdata/fuzz/`, committed with the\n")
	b.WriteString("fix, and every later `go test` runs it. The fuzz time includes running the seeds and the\n")
	b.WriteString("inputs go kept from earlier runs first; **executions** counts the new inputs tried after them.\n")
	b.WriteString("`make test` fuzzes each target for a short time too.\n\n")
	b.WriteString("| target | package | fuzz time | executions | result |\n")
	b.WriteString("|---|---|---:|---:|---|\n")
	var execs int64
	findings := 0
	for _, f := range fs {
		result := "ok"
		if !f.Passed {
			findings++
			result = "**FAIL**, no failing input saved"
			if f.Crasher != "" {
				result = "**FAIL**, failing input `" + cell(f.Crasher) + "`"
			}
		}
		execs += f.Execs
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s |\n", cell(f.Target), cell(f.Package), cell(f.FuzzTime), f.Execs, result)
	}
	total := "ok"
	if findings > 0 {
		total = fmt.Sprintf("**%d failed**", findings)
	}
	fmt.Fprintf(b, "| **all %d targets** | | %s | %d | %s |\n\n", len(fs), totalFuzzTime(fs), execs, total)
}

// totalFuzzTime adds the targets' fuzz times; "" when one is not a
// duration (-fuzztime 100x counts executions).
func totalFuzzTime(fs []Fuzz) string {
	var sum time.Duration
	for _, f := range fs {
		d, err := time.ParseDuration(f.FuzzTime)
		if err != nil {
			return ""
		}
		sum += d
	}
	return sum.String()
}

func writeLeak(b *strings.Builder, m Meta, l Leak) {
	b.WriteString(leakHeading + "\n\n")
	fmt.Fprintf(b, "Measured by `%s` (`cmd/secrets_e2e_test.go`, which `make reliability` runs) on %s (%s, %s)\n", l.Test, m.Date, m.Machine, m.Go)
	fmt.Fprintf(b, "at commit %s. Two passwords, a random one and a plain word (which mqctl masks only where a\n", m.Commit)
	b.WriteString("password goes, never as free text), are each given to mqctl every way it takes one (in the URL,\n")
	b.WriteString("`--url`, `--password`, `--password-env`, `--password-file`, the contexts file, a management URL) on Kafka\n")
	b.WriteString("(kfake with SASL SCRAM), NATS and RabbitMQ, with the right login and a refused one, and every\n")
	b.WriteString("command runs with `-v`; its stdout, stderr and the files it writes (and the contexts file, where\n")
	b.WriteString("that was not given the password) are searched for the password as is, URL-encoded and\n")
	b.WriteString("base64-encoded (alone, as HTTP Basic auth, as SASL PLAIN). A hit fails the test.\n\n")
	b.WriteString("| mqctl runs | outputs searched | files searched | bytes searched | forms: plain | URL-encoded | base64 | hits | result |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	result := "ok"
	if !l.Passed {
		result = "**FAIL**"
	}
	fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d | %d | **%d** | %s |\n\n",
		l.Commands, l.Outputs, l.Files, l.Bytes, l.Plain, l.URLEncoded, l.Base64, l.Hits, result)
}

func writeNotMeasured(b *strings.Builder, d Doc) {
	var missing string
	switch {
	case d.Fuzz == nil && d.Leak == nil:
		missing = "the fuzz targets' executions and the\nsecret-leak test's hit count"
	case d.Fuzz == nil:
		missing = "the fuzz targets' executions"
	case d.Leak == nil:
		missing = "the secret-leak test's hit count"
	default:
		return
	}
	b.WriteString(notMeasuredHeading + "\n\n")
	b.WriteString("Issue 15 asks for more than this run measured: " + missing + ".\n")
}

func runsPhrase(asked int, rs []Result) string {
	runs := sortedRuns(rs)
	if len(runs) == 1 && runs[0] == asked {
		return fmt.Sprintf("%d times", asked)
	}
	parts := make([]string, len(runs))
	for i, n := range runs {
		parts[i] = fmt.Sprint(n)
	}
	return fmt.Sprintf("%d times asked (%s runs recorded)", asked, strings.Join(parts, ", "))
}

func verdict(r Result) string {
	switch {
	case r.Lost > 0:
		return "**LOST**"
	case !r.Passed:
		return "**FAIL**"
	default:
		return "ok"
	}
}

// cell keeps a value from breaking the table.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
