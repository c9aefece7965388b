package dlq

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/output"
)

// RestoreCommand is the produce command line that sends an export back to
// the source it came from: to the same context (and --url when one was
// given; the password stays out), the same destination, named as the
// driver's produce takes it (--queue NAME, or NAME), each record to its
// partition where produce takes a partitioner, and to the subject the
// dead letters were stored under where the export recorded one.
func RestoreCommand(t broker.Target, urlFlag bool, caps broker.Capabilities, source string, e *Exporter) (args []string, note string) {
	args = []string{"mqctl"}
	if t.Context != "" {
		args = append(args, "-c", t.Context)
	}
	if t.Context == "" || urlFlag {
		u, token := broker.WithoutPassword(t.URL)
		args = append(args, "--url", u)
		switch {
		case token:
			note = " (the URL's token is not printed: put it back before the host, TOKEN@host)"
		case u != t.URL:
			note = " (the URL's password is not printed: set MQCTL_PASSWORD, or add :PASSWORD after the user)"
		}
	}
	args = append(args, "produce")
	dest := source
	if len(e.Subjects) > 0 {
		dest = e.Subjects[0]
	}
	produce := caps.Flags["produce"]
	if slices.Contains(produce, caps.DestinationFlag) {
		args = append(args, "--"+caps.DestinationFlag, dest)
	} else {
		args = append(args, dest)
	}
	if slices.Contains(produce, "partitioner") {
		args = append(args, "--partitioner", "manual")
	}
	if len(e.Subjects) > 1 {
		note += fmt.Sprintf(" (they were stored under %d subjects and produce sends a file to one: all go to %s)", len(e.Subjects), dest)
	}
	if e.WithID > 0 {
		note += fmt.Sprintf(" (%d carry a Nats-Msg-Id: the stream takes them for duplicates until its duplicate window, 2 minutes by default, has passed since they were first stored)", e.WithID)
	}
	return append(args, "--format", "jsonl", "--file", e.Path), note
}

// ShellJoin quotes args for a POSIX shell, so a printed command runs as
// printed: plain words stay as they are, others go in single quotes.
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	if output.TerminalSafe(s) != s {
		// Between single quotes controls would reach the terminal raw,
		// and a command cut in two by a newline would not paste.
		return output.ShellWord(s)
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
