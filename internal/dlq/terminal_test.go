package dlq

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/output"
)

// hostileNames would act on a terminal shown raw.
var hostileNames = []string{
	"q\x1b]0;pwned\x07\x1b[31mred",
	"q\r\nline",
	"q\u202etxt",
	"q\xff\xfe",
	"q\u0085c1",
	"it's q\\",
}

// A restore command naming a destination that holds controls is inert on
// a terminal and, pasted into bash, names the same bytes.
func TestShellJoinHostileNames(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to check that the quoting round-trips")
	}
	for _, name := range hostileNames {
		line := ShellJoin([]string{"mqctl", "produce", "--queue", name})
		if safe := output.TerminalSafe(line); safe != line {
			t.Errorf("%q: not inert: %q", name, line)
		}
		out, err := exec.Command(bash, "-c", "printf %s "+strings.TrimPrefix(line, "mqctl produce --queue ")).Output()
		if err != nil || string(out) != name {
			t.Errorf("%q: bash reads %s as %q (%v)", name, line, out, err)
		}
	}
}

// dlq stats' headline names the source: on a terminal it shows escaped.
func TestStatsHeadlineOnTerminal(t *testing.T) {
	for _, name := range hostileNames {
		s, out, _ := output.Test()
		s.OutTTY = true
		if err := PrintStats(s, StatsReport{Source: name}); err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(out.String(), "\n")
		if output.TerminalSafe(head) != head {
			t.Errorf("%q: headline %q reaches the terminal raw", name, head)
		}
	}
}

// A dead letter's value keeps its tab and newline as one escape each in a
// pipe's TSV cell, so `printf '%b'` gives the value back, and shows them
// escaped on a terminal.
func TestPeekTableValueEscapedOnce(t *testing.T) {
	v := "a\tb\nc\\d"
	items := []PeekItem{{Message: envelope.Envelope{Value: &v}}}
	for _, tty := range []bool{false, true} {
		s, out, _ := output.Test()
		s.OutTTY = tty
		if err := output.PrintTable(s, PeekTable(items)); err != nil {
			t.Fatal(err)
		}
		want := `a\tb\nc\\d` // TSV: printf '%b' undoes it
		if tty {
			want = `a\tb\nc\d` // shown as TerminalSafe shows text
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("tty=%v: want the value as %s, got %q", tty, want, out.String())
		}
	}
}
