package config

import (
	"strconv"
	"strings"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Entry is how `context ls` shows a context; secrets never appear.
type Entry struct {
	Name     string `json:"name" yaml:"name"`
	Current  bool   `json:"current" yaml:"current"`
	URL      string `json:"url" yaml:"url"`
	ReadOnly bool   `json:"read_only" yaml:"read_only"`
}

// Entries lists the file's contexts in file order, URLs redacted.
func (f *File) Entries() []Entry {
	es := make([]Entry, 0, len(f.Contexts))
	for _, c := range f.Contexts {
		es = append(es, Entry{Name: c.Name, Current: c.Name == f.CurrentContext, URL: broker.RedactURL(c.URL), ReadOnly: c.ReadOnly})
	}
	return es
}

// EntryTable is the table of `context ls`.
func EntryTable(es []Entry) output.Table {
	t := output.Table{Header: []string{"CURRENT", "NAME", "URL", "READ-ONLY"}}
	for _, e := range es {
		cur := ""
		if e.Current {
			cur = "*"
		}
		t.Rows = append(t.Rows, []string{cur, e.Name, e.URL, strconv.FormatBool(e.ReadOnly)})
	}
	return t
}

// Check refuses a context `context add` must not save, and turns TLS on
// when a TLS file or option implies it.
func (c *Context) Check() error {
	if err := checkName(c.Name); err != nil {
		return err
	}
	if c.URL == "" {
		return mqerr.Usagef("context add %s: --url is required", c.Name)
	}
	if err := broker.CheckURL(c.URL); err != nil {
		return err
	}
	if c.ManagementURL != "" {
		// Checked now, not at the first command that lists.
		if err := broker.CheckHTTPURL("--management-url", c.ManagementURL); err != nil {
			return err
		}
	}
	switch c.SASL {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return mqerr.Usagef("--sasl %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL)
	}
	if c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "" || c.TLS.InsecureSkipVerify {
		c.TLS.Enabled = true
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return mqerr.Usagef("--tls-cert and --tls-key go together")
	}
	return nil
}

// checkName refuses a context name that could not be selected or shown:
// empty or blank, a comma (-c a,b lists contexts), or what would act on a
// terminal (controls, escape sequences, bidi overrides, invalid UTF-8).
func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return mqerr.Usagef("context add: the name is empty")
	case strings.TrimSpace(name) != name:
		return mqerr.Usagef("context add %q: the name starts or ends with a space", name)
	case strings.Contains(name, ","):
		return mqerr.Usagef("context add %q: the name holds a comma, which -c reads as a list of contexts", name)
	case output.TerminalSafe(name) != name:
		return mqerr.Usagef("context add %q: the name holds a control character, a bidi control or invalid UTF-8", name)
	}
	return nil
}
