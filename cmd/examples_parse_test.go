package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// exampleWords splits one example command line as a POSIX shell would
// for the simple lines --help shows: single and double quotes group
// words, a " #" starts a comment, and input or output redirections
// (<, >, 2>) end the command's words.
func exampleWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !inWord:
			flush()
			return words
		case (r == '<' || r == '>' || r == '|') && !inWord:
			flush()
			return words
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

// exampleCommands returns the mqctl command lines of an Example block:
// the part after "mqctl" of each line that runs it, including after a
// pipe.
func exampleCommands(example string) [][]string {
	var out [][]string
	for _, line := range strings.Split(example, "\n") {
		i := strings.Index(line, "mqctl ")
		if i < 0 || (i > 0 && !strings.ContainsRune(" |$(", rune(line[i-1]))) {
			continue
		}
		words := exampleWords(line[i+len("mqctl "):])
		if len(words) > 0 {
			out = append(out, words)
		}
	}
	return out
}

// Every example in --help parses: its command exists, its flags are the
// command's, with values they accept, and its arguments are as many as
// the command takes. Nothing runs.
func TestEveryExampleParses(t *testing.T) {
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, words := range exampleCommands(c.Example) {
			checked++
			root := NewRootCmd(newTestFactory(t))
			target, rest, err := root.Find(words)
			if err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(words, " "), err)
				continue
			}
			target.InitDefaultHelpFlag()
			if err := target.ParseFlags(rest); err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(words, " "), err)
				continue
			}
			if err := target.ValidateArgs(target.Flags().Args()); err != nil {
				t.Errorf("%s example %q: %v", c.CommandPath(), strings.Join(words, " "), err)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCmd(newTestFactory(t)))
	t.Logf("%d example lines", checked)
	if checked < 50 {
		t.Errorf("only %d example lines found", checked)
	}
}
