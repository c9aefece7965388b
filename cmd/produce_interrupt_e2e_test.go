package cmd_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestProduceInterruptAccounting stops a produce run with SIGINT while
// stdin still has lines queued, and reconciles the summary with the topic
// and --failed-out: every line read is sent or not sent, and each is in
// exactly one of the two places.
func TestProduceInterruptAccounting(t *testing.T) {
	k, cl := kafkaTopic(t, "intr", 1, nil)
	fo := filepath.Join(t.TempDir(), "failed.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// -v reports each confirm, the event the interrupt waits for; --rate
	// keeps the input queued behind the publisher.
	cmd := newCLI(t).command(ctx, "produce", "intr", "--url", k.URL, "--rate", "200", "--failed-out", fo, "-v")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const total = 5000
	go func() {
		w := bufio.NewWriter(stdin)
		for i := range total {
			fmt.Fprintf(w, "m-%d\n", i)
		}
		w.Flush() // fails once mqctl has gone; stdin stays open until then
	}()
	var lines []string
	signalled := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && strings.HasPrefix(sc.Text(), "#30 confirmed") {
			cmd.Process.Signal(os.Interrupt)
			signalled = true
		}
	}
	io.Copy(io.Discard, stderr)
	cmd.Wait()
	log := strings.Join(lines, "\n")
	if !signalled || cmd.ProcessState.ExitCode() != 130 {
		t.Fatalf("signalled %v, exit %d: %s", signalled, cmd.ProcessState.ExitCode(), tail(log))
	}
	m := regexp.MustCompile(`mqctl: read (\d+): sent (\d+), confirmed (\d+), failed (\d+), not sent (\d+) in`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no summary with read and not sent: %s", tail(log))
	}
	n := make([]int, 5)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	read, sent, confirmed, failed, notSent := n[0], n[1], n[2], n[3], n[4]
	if notSent == 0 || sent < 30 || sent+notSent != read || confirmed+failed != sent {
		t.Fatalf("counts do not add up: %s", m[0])
	}
	fails := failedOut(t, fo)
	where := map[string]int{}
	notSentLines := 0
	for _, f := range fails {
		where[f["value"].(string)] += 100
		if f["error"] == "not sent: interrupted before publishing" {
			notSentLines++
		}
	}
	if len(fails) != failed+notSent || notSentLines != notSent {
		t.Fatalf("--failed-out has %d lines (%d not sent), summary: %s", len(fails), notSentLines, m[0])
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "intr")
	if err != nil {
		t.Fatal(err)
	}
	stored := int(ends["intr"][0].Offset)
	if stored < confirmed || stored > sent {
		t.Fatalf("topic holds %d, summary: %s", stored, m[0])
	}
	for _, r := range readTopic(t, k.Addrs(), "intr", stored) {
		where[string(r.Value)]++
	}
	// The lines read are the first `read` lines, each in the topic or in
	// --failed-out (a failed one may be in both), and no later line is.
	for i := range total {
		c := where[fmt.Sprintf("m-%d", i)]
		switch {
		case i < read && (c == 1 || c == 100 || c == 101):
		case i >= read && c == 0:
		default:
			t.Fatalf("m-%d: stored %d times, in --failed-out %d times; summary: %s", i, c%100, c/100, m[0])
		}
	}
	t.Logf("%s; topic %d, --failed-out %d", m[0], stored, len(fails))
}

// tail is the end of a long log, for a failure message.
func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
