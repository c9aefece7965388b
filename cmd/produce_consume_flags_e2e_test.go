package cmd_test

import (
	"strings"
	"testing"
)

// flagCase is one flag (with its value) and the word the refusal names.
type flagCase struct {
	args    []string
	mention string
}

func flags(mention string, args ...string) flagCase { return flagCase{args, mention} }

// Every produce and consume flag that means nothing on a broker is refused
// there with one line and exit 2, before anything is read or sent, instead
// of being ignored (issue 11 item 7). The flags not listed for a broker
// apply to it (or to every broker).
func TestFlagsThatDoNotApplyAreRefused(t *testing.T) {
	k, _ := kafkaTopic(t, "t", 1, nil)
	n, _, _ := natsStream(t, "S", []string{"s.>"}, "s.x", 0)
	rabbitURL, _ := rabbitQueue(t, "q", nil)

	kafkaProduce := []flagCase{
		flags("--key", "-k", "k"), flags("--partition", "--partition", "0"), flags("--partitioner", "--partitioner", "round-robin"),
		flags("--compression", "--compression", "none"), flags("--acks", "--acks", "1"),
	}
	rabbitProduce := []flagCase{
		flags("--routing-key", "--routing-key", "r"), flags("--persistent", "--persistent=false"), flags("--mandatory", "--mandatory=false"),
		flags("--content-type", "--content-type", "t"), flags("--message-id", "--message-id", "m"), flags("--correlation-id", "--correlation-id", "c"),
		flags("--reply-to", "--reply-to", "r"), flags("--expiration", "--expiration", "5"), flags("--priority", "--priority", "1"),
		flags("--type", "--type", "t"), flags("--app-id", "--app-id", "a"),
	}
	natsProduce := []flagCase{flags("--msg-id", "--msg-id", "x"), flags("--core", "--core")}
	kafkaConsume := []flagCase{flags("--group", "--group", "g"), flags("--partition", "--partition", "0"), flags("--key-grep", "--key-grep", "k")}
	jetStreamConsume := []flagCase{flags("--consumer", "--consumer", "c"), flags("--filter-subject", "--filter-subject", "s.x")}
	coreConsume := []flagCase{flags("--queue-group", "--queue-group", "g")}
	from := flags("--from", "--from", "beginning")

	type brokerCase struct {
		name, url string
		// produce and consume are the command lines the flags are added to.
		produce, consume []string
		refused          []flagCase // produce flags
		refusedConsume   []flagCase
	}
	join := func(lists ...[]flagCase) []flagCase {
		var out []flagCase
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	cases := []brokerCase{
		{
			name: "kafka", url: k.URL,
			produce: []string{"produce", "t"}, consume: []string{"consume", "t", "--until-end"},
			refused: join(rabbitProduce, natsProduce, []flagCase{
				flags("--queue", "--queue", "q"),
				// Not about the broker: framing flags of another format.
				flags("--skip-invalid", "--skip-invalid"), flags("--delimiter", "--format", "jsonl", "--delimiter", ","),
			}),
			refusedConsume: join(jetStreamConsume, coreConsume, []flagCase{flags("--core", "--core")}),
		},
		{
			name: "rabbitmq", url: rabbitURL,
			produce: []string{"produce", "amq.topic"}, consume: []string{"consume", "q", "--until-end"},
			refused:        join(kafkaProduce, natsProduce),
			refusedConsume: join(kafkaConsume, jetStreamConsume, coreConsume, []flagCase{flags("--core", "--core"), from}),
		},
		{
			name: "jetstream", url: n.URL,
			produce: []string{"produce", "s.x"}, consume: []string{"consume", "S", "--until-end"},
			refused:        join(kafkaProduce, rabbitProduce, []flagCase{flags("--queue", "--queue", "q")}),
			refusedConsume: join(kafkaConsume, coreConsume),
		},
		{
			name: "core nats", url: n.URL,
			produce: []string{"produce", "s.x", "--core"}, consume: []string{"consume", "s.x", "--core", "--idle-timeout", "2s"},
			refused:        join(kafkaProduce, rabbitProduce),
			refusedConsume: join(kafkaConsume, jetStreamConsume, []flagCase{flags("--until-end", "--until-end"), from}),
		},
	}
	for _, bc := range cases {
		t.Run(bc.name, func(t *testing.T) {
			c := newCLI(t)
			c.env = []string{"MQCTL_URL=" + bc.url}
			for _, fc := range bc.refused {
				args := append(append([]string{}, bc.produce...), fc.args...)
				if fc.mention == "--queue" {
					args = append([]string{"produce"}, fc.args...)
				}
				args = append(args, "v")
				if fc.mention == "--skip-invalid" || fc.mention == "--delimiter" {
					args = args[:len(args)-1] // read stdin
				}
				r := c.run(args...)
				if r.code != 2 || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 || !strings.Contains(r.stderr, fc.mention) {
					t.Errorf("mqctl %s: exit %d, want 2 and one line naming %s: %q", strings.Join(args, " "), r.code, fc.mention, r.stderr)
				}
			}
			for _, fc := range bc.refusedConsume {
				args := append(append([]string{}, bc.consume...), fc.args...)
				r := c.run(args...)
				if r.code != 2 || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 || !strings.Contains(r.stderr, fc.mention) {
					t.Errorf("mqctl %s: exit %d, want 2 and one line naming %s: %q", strings.Join(args, " "), r.code, fc.mention, r.stderr)
				}
			}
		})
	}
	// The same flags are accepted where they apply: the refusals above are
	// about the broker, not the flag.
	for _, ok := range []struct {
		url  string
		args []string
	}{
		{k.URL, []string{"produce", "t", "-k", "k", "--partition", "0", "--compression", "none", "--acks", "1", "v"}},
		{k.URL, []string{"consume", "t", "--until-end", "--group", "g", "--key-grep", "k", "--from", "beginning"}},
		{n.URL, []string{"produce", "s.x", "--msg-id", "x", "v"}},
		{n.URL, []string{"consume", "S", "--until-end", "--consumer", "c", "--filter-subject", "s.x", "--from", "beginning"}},
		{rabbitURL, []string{"produce", "--queue", "q", "--expiration", "60000", "--priority", "1", "--content-type", "t", "v"}},
	} {
		c := newCLI(t)
		c.env = []string{"MQCTL_URL=" + ok.url}
		if r := c.run(ok.args...); r.code != 0 {
			t.Errorf("mqctl %s: %+v", strings.Join(ok.args, " "), r)
		}
	}
}
