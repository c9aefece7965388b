package consume

import (
	"io"
	"net"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/match"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Flags are `mqctl consume`'s flags as given, before they are checked.
type Flags struct {
	Consumer    broker.ConsumerOptions
	From        string
	Count       int64
	IdleTimeout time.Duration
	Ack         string
	Exec        string
	ExecTimeout time.Duration
	// ShutdownTimeout bounds the handlers still running after SIGTERM or
	// Ctrl-C.
	ShutdownTimeout time.Duration
	// Serve is the host:port of --serve's /healthz and /metrics.
	Serve         string
	Retries       int
	Backoff       time.Duration
	OnFail        string
	Concurrency   int
	Grep, KeyGrep string
	Headers       []string
	// OutputGiven says -o was given (it does not go with --exec).
	OutputGiven bool
}

// RunOptions checks the flags that need no broker and returns the run's
// options; changed says whether a flag was given. A peek also sets
// Consumer.Peek. Handler output goes to stdout and stderr.
func (fl *Flags) RunOptions(changed func(string) bool, stdout, stderr io.Writer) (Options, error) {
	run := Options{Count: fl.Count, IdleTimeout: fl.IdleTimeout, Concurrency: fl.Concurrency, Retries: fl.Retries, Backoff: fl.Backoff}
	switch fl.Ack {
	case "after-output":
	case "none":
		run.Peek = true
		fl.Consumer.Peek = true
		if fl.OnFail != "" {
			return run, mqerr.Usagef("--on-fail does not go with --ack none: a peek settles nothing and publishes nothing")
		}
	default:
		return run, mqerr.Usagef("--ack %q: want after-output or none", fl.Ack)
	}
	var err error
	if run.Filter, err = match.New(fl.Grep, fl.KeyGrep, fl.Headers); err != nil {
		return run, err
	}
	if fl.OnFail != "" {
		if run.OnFail, err = ParseOnFail(fl.OnFail); err != nil {
			return run, err
		}
		if len(run.OnFail.Delays) > 0 && fl.Retries > 0 {
			return run, mqerr.Usagef("--retries does not go with --on-fail retry=...: the delays are the retries")
		}
	}
	switch {
	case fl.Count < 0:
		return run, mqerr.Usagef("--count %d: want 0 (no limit) or more", fl.Count)
	case fl.Concurrency < 1:
		return run, mqerr.Usagef("--concurrency %d: want 1 or more", fl.Concurrency)
	case fl.Retries < 0:
		return run, mqerr.Usagef("--retries %d: want 0 or more", fl.Retries)
	case fl.Consumer.Prefetch < 1:
		return run, mqerr.Usagef("--prefetch %d: want 1 or more", fl.Consumer.Prefetch)
	case fl.IdleTimeout < 0 || fl.Backoff < 0 || fl.ExecTimeout < 0 || fl.ShutdownTimeout < 0:
		return run, mqerr.Usagef("durations must not be negative")
	}
	if fl.Exec == "" {
		for _, name := range []string{"retries", "backoff", "on-fail", "concurrency", "exec-timeout", "shutdown-timeout", "serve"} {
			if changed(name) {
				return run, mqerr.Usagef("--%s applies to --exec handlers only", name)
			}
		}
		return run, nil
	}
	if fl.OutputGiven {
		return run, mqerr.Usagef("-o does not go with --exec: the handler's own output is printed")
	}
	if err := CheckCommand(fl.Exec); err != nil {
		return run, err
	}
	if changed("serve") {
		host, port, err := net.SplitHostPort(fl.Serve)
		if err != nil || port == "" || strings.ContainsAny(host+port, "/ ") {
			return run, mqerr.Usagef("--serve %q: want host:port such as 127.0.0.1:8080 or :8080", fl.Serve)
		}
	}
	run.ShutdownTimeout = fl.ShutdownTimeout
	run.Exec = &Exec{Command: fl.Exec, Stdout: stdout, Stderr: stderr, Timeout: fl.ExecTimeout}
	return run, nil
}

// CheckBroker refuses flags that mean nothing on the connected broker
// (from what its driver says it can do) and picks the broker's default
// --on-fail: requeue where a message can come again, stop where not.
func (fl *Flags) CheckBroker(caps broker.Capabilities, changed func(string) bool, run *Options) error {
	if run.Exec != nil {
		run.Exec.Broker = caps.Name
	}
	noRedelivery := !caps.Redelivery || fl.Consumer.Core
	if run.OnFail.Kind == "" {
		run.OnFail.Kind = "requeue"
		if noRedelivery {
			run.OnFail.Kind = "stop"
		}
	}
	if caps.KeyMeaning != "record key" && fl.KeyGrep != "" {
		return mqerr.Usagef("--key-grep: %s messages have no key (use --header to match a header)", caps.Name)
	}
	if err := caps.CheckFlags("consume", changed); err != nil {
		return err
	}
	if len(run.OnFail.Delays) > 0 && fl.Consumer.Core {
		return mqerr.Usagef("--on-fail retry=...: core NATS has no acknowledgement, so nothing can wait in the broker; consume a JetStream stream")
	}
	if noRedelivery && (run.OnFail.Kind == "requeue" || run.OnFail.Kind == "reject") {
		what := caps.Name + " cannot requeue or reject one message"
		if fl.Consumer.Core {
			what = "core NATS has no acknowledgement"
		}
		return mqerr.Usagef("--on-fail %s: %s; use dead-letter=DEST or stop", run.OnFail.Kind, what)
	}
	return nil
}
