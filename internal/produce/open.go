package produce

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// InputOptions say where produce's messages come from and how they are
// framed: values given as arguments, a file, or stdin.
type InputOptions struct {
	Values []string // messages given as arguments, sent as they are
	File   string   // --file; "" reads In
	Format string   // lines, jsonl or raw
	// Delimiter is --delimiter as typed (`\n`, `\t`, `\0`, `\r` or one
	// byte); DelimiterSet says it was given on the command line.
	Delimiter    string
	DelimiterSet bool
	SkipInvalid  bool
	Count        int // --count passes over the input
	In           io.Reader
	InTTY        bool      // In is a terminal: Notice says how to end the input
	Notice       io.Writer // where the terminal notice goes (stderr)
}

// OpenInput checks the input options and returns a function that opens the
// input anew for each --count pass. stdin cannot be read twice: with a
// count above one it is read into memory once.
func OpenInput(o InputOptions) (func() (Reader, error), error) {
	delim, err := ParseDelimiter(o.Delimiter)
	if err != nil {
		return nil, err
	}
	frame := func(r io.Reader) (Reader, error) {
		switch o.Format {
		case "lines":
			return NewLinesReader(r, delim), nil
		case "jsonl":
			return NewJSONLReader(r), nil
		case "raw":
			return NewRawReader(r), nil
		}
		return nil, mqerr.Usagef("--format %q: want lines, jsonl or raw", o.Format)
	}
	if _, err := frame(bytes.NewReader(nil)); err != nil {
		return nil, err
	}
	values := o.Values
	switch {
	case o.DelimiterSet && (o.Format != "lines" || len(values) > 0):
		return nil, mqerr.Usagef("--delimiter splits --format lines read from --file or stdin; it does not apply here")
	case o.SkipInvalid && o.Format != "jsonl":
		return nil, mqerr.Usagef("--skip-invalid skips bad --format jsonl lines; with --format %s every input is a message", o.Format)
	}
	switch {
	case len(values) > 0 && o.File != "":
		return nil, mqerr.Usagef("values as arguments and --file exclude each other")
	case len(values) > 0:
		if o.Format != "lines" {
			return nil, mqerr.Usagef("values given as arguments are sent as they are: --format %s applies to --file or stdin", o.Format)
		}
		return func() (Reader, error) { return NewArgsReader(values), nil }, nil
	case o.File != "":
		if _, err := os.Stat(o.File); err != nil {
			return nil, mqerr.Usagef("--file: %v", err)
		}
		var cur *os.File
		return func() (Reader, error) {
			if cur != nil {
				cur.Close()
			}
			fh, err := os.Open(o.File)
			if err != nil {
				return nil, mqerr.Usagef("--file: %v", err)
			}
			cur = fh
			return frame(fh)
		}, nil
	default:
		if o.InTTY && o.Notice != nil {
			fmt.Fprintln(o.Notice, "mqctl: reading messages from the terminal; end with Ctrl-D")
		}
		if o.Count == 1 {
			return func() (Reader, error) { return frame(o.In) }, nil
		}
		data, err := io.ReadAll(o.In)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return func() (Reader, error) { return frame(bytes.NewReader(data)) }, nil
	}
}

// ParseDelimiter reads --delimiter: `\n`, `\t`, `\0`, `\r`, one byte, or a
// Go escape of one byte.
func ParseDelimiter(s string) (byte, error) {
	switch s {
	case `\n`:
		return '\n', nil
	case `\t`:
		return '\t', nil
	case `\0`:
		return 0, nil
	case `\r`:
		return '\r', nil
	}
	if len(s) == 1 {
		return s[0], nil
	}
	if unq, err := strconv.Unquote(`"` + s + `"`); err == nil && len(unq) == 1 {
		return unq[0], nil
	}
	return 0, mqerr.Usagef("--delimiter %q: want one byte", s)
}
