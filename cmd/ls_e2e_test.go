package cmd_test

import (
	"strings"
	"testing"
)

// ls NAME lists only the named destinations, and a NAME that does not
// exist exits 5 naming it, after the ones that do.
func TestLsNames(t *testing.T) {
	k, _ := lagGroup(t)
	c := newCLI(t)
	r := c.run("ls", "--url", k.URL, "orders", "nope")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 5 || len(lines) != 2 || !strings.HasPrefix(lines[1], "orders\t3\t30\t1") {
		t.Fatalf("ls orders nope: %+v", r)
	}
	if r.stderr != "mqctl: no topic, queue or stream named \"nope\"\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	if r := c.run("ls", "--url", k.URL, "orders"); r.code != 0 || !strings.Contains(r.stdout, "orders") {
		t.Errorf("ls orders: %+v", r)
	}
}
