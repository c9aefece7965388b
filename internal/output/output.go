// Package output renders data for people and for scripts: TTY-aware tables,
// JSON, JSON lines, YAML and Go templates. stdout carries data only.
package output

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"text/template"

	"golang.org/x/term"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Streams are the process's standard streams with what is known about them.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// OutTTY and ErrTTY say whether stdout/stderr are terminals.
	OutTTY bool
	ErrTTY bool
	// InTTY says whether stdin is a terminal (for confirmation prompts).
	InTTY bool
	// Color is on when stdout is a terminal, NO_COLOR is unset and
	// --no-color was not given.
	Color bool
	// Size, when set, reads the terminal's size now (it changes when the
	// window is resized); see TermSize.
	Size func() (width, height int, err error)
}

// TermSize is stdout's terminal size, 0 and 0 when it is not a terminal or
// the size cannot be read.
func (s *Streams) TermSize() (width, height int) {
	if !s.OutTTY || s.Size == nil {
		return 0, 0
	}
	w, h, err := s.Size()
	if err != nil || w <= 0 || h <= 0 {
		return 0, 0
	}
	return w, h
}

// System returns the real standard streams.
func System() *Streams {
	s := &Streams{
		In:     os.Stdin,
		Out:    os.Stdout,
		Err:    os.Stderr,
		OutTTY: isTerminal(os.Stdout),
		ErrTTY: isTerminal(os.Stderr),
		InTTY:  isTerminal(os.Stdin),
	}
	s.Size = func() (int, int, error) { return term.GetSize(int(os.Stdout.Fd())) }
	_, noColor := os.LookupEnv("NO_COLOR")
	s.Color = s.OutTTY && !noColor && os.Getenv("TERM") != "dumb"
	return s
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Test returns streams backed by buffers, TTY off.
func Test() (s *Streams, out, errOut *bytes.Buffer) {
	out, errOut = &bytes.Buffer{}, &bytes.Buffer{}
	return &Streams{In: strings.NewReader(""), Out: out, Err: errOut}, out, errOut
}

// Format is a parsed -o/--output value.
type Format struct {
	Name     string // table, json, jsonl, yaml, template
	Template *template.Template
	// Wide is -o wide: a table with every column, never narrowed to the
	// terminal.
	Wide bool
}

// Formats lists the names ParseFormat accepts, for help and completion.
var Formats = []string{"table", "wide", "json", "jsonl", "yaml", "template=TEMPLATE", "prometheus (lag)", "raw (consume)"}

// ParseFormat parses -o. A bad name or a template that does not parse is a
// usage error.
func ParseFormat(s string) (Format, error) {
	if body, ok := strings.CutPrefix(s, "template="); ok {
		t, err := template.New("output").Funcs(TemplateFuncs).Parse(body)
		if err != nil {
			return Format{}, mqerr.Usagef("-o template: %v", err)
		}
		return Format{Name: "template", Template: t}, nil
	}
	switch s {
	case "", "table":
		return Format{Name: "table"}, nil
	case "wide":
		return Format{Name: "table", Wide: true}, nil
	case "json", "jsonl", "yaml", "prometheus", "raw":
		return Format{Name: s}, nil
	}
	return Format{}, mqerr.Usagef("unknown output format %q: want table, json, jsonl, yaml, template=TEMPLATE, prometheus (lag only) or raw (consume only)", s)
}

// TemplateFuncs are the functions every -o template=... may call.
var TemplateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join": strings.Join,
}

// Table is data shaped for a table: header names and string cells.
type Table struct {
	Header []string
	Rows   [][]string
	// Colors, parallel to Rows, holds SGR parameters ("32", "31;1") for
	// cells mqctl colours on a terminal, applied after the cell is made
	// safe (data never carries its own colours to the screen). Nil: none.
	Colors [][]string
	// Width, when above 0, cuts every line a terminal shows to this many
	// columns (FitTable sets it), so no row wraps.
	Width int
}

// ErrPrometheusOnlyForLag is the answer of every printer but lag's to -o prometheus.
var ErrPrometheusOnlyForLag = mqerr.Usagef("-o prometheus is available for 'mqctl lag' only")

// ErrRawOnlyForConsume is the answer of every printer to -o raw: only
// messages have a raw form.
var ErrRawOnlyForConsume = mqerr.Usagef("-o raw is available for 'mqctl consume' only")

// List prints items in format f. Table output calls table to shape them;
// json prints one array; jsonl, yaml documents and templates print one
// item each.
func List[T any](s *Streams, f Format, items []T, table func([]T) Table) error {
	switch f.Name {
	case "prometheus":
		return ErrPrometheusOnlyForLag
	case "raw":
		return ErrRawOnlyForConsume
	case "json":
		if items == nil {
			items = []T{}
		}
		return encodeJSON(s.Out, items, true)
	case "jsonl":
		for _, it := range items {
			if err := encodeJSON(s.Out, it, false); err != nil {
				return err
			}
		}
		return nil
	case "yaml":
		if items == nil {
			items = []T{}
		}
		return encodeYAML(s.Out, items)
	case "template":
		for _, it := range items {
			if err := execTemplate(s, f.Template, it); err != nil {
				return err
			}
		}
		return nil
	default:
		return PrintTable(s, table(items))
	}
}

// Object prints a single value; table output calls table to shape it.
func Object(s *Streams, f Format, v any, table func() Table) error {
	switch f.Name {
	case "prometheus":
		return ErrPrometheusOnlyForLag
	case "raw":
		return ErrRawOnlyForConsume
	case "json", "jsonl":
		return encodeJSON(s.Out, v, f.Name == "json")
	case "yaml":
		return encodeYAML(s.Out, v)
	case "template":
		return execTemplate(s, f.Template, v)
	default:
		return PrintTable(s, table())
	}
}

// execTemplate writes t over v and a newline. On a terminal the text goes
// through TerminalText: a template prints names and values from the
// broker as they are, escape sequences included. In a pipe it is written
// unchanged.
func execTemplate(s *Streams, t *template.Template, v any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return mqerr.Usagef("-o template: %v", err)
	}
	buf.WriteByte('\n')
	out := buf.Bytes()
	if s.OutTTY {
		out = []byte(TerminalText(buf.String()))
	}
	_, err := s.Out.Write(out)
	return err
}
