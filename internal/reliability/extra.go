package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// LeakEnv names a file the secret-leak test (cmd's TestSecretsNeverPrinted)
// writes its Leak figures to, one JSON line, when set.
const LeakEnv = "MQCTL_LEAK_OUT"

// Fuzz is one fuzz target's run: a JSON line scripts/fuzz.sh writes to
// $MQCTL_FUZZ_OUT.
type Fuzz struct {
	Target   string `json:"target"`
	Package  string `json:"package"`
	FuzzTime string `json:"fuzztime"`
	Execs    int64  `json:"execs"`
	Passed   bool   `json:"passed"`
	// Crasher is the failing input go test saved, from the repository's
	// root; "" when none was (a pass, or a failure without an input).
	Crasher string `json:"crasher,omitempty"`
}

// Leak is what the secret-leak test searched and found.
type Leak struct {
	Test string `json:"test"`
	// Commands counts the mqctl runs whose stdout and stderr were searched.
	Commands int `json:"commands"`
	// Outputs counts the texts searched (stdout and stderr of each run).
	Outputs int `json:"outputs"`
	// Files counts the files searched: what the commands wrote, and the
	// contexts file where it must not hold the password.
	Files int `json:"files"`
	// Bytes is the size of all outputs and files searched.
	Bytes int64 `json:"bytes"`
	// Plain, URLEncoded and Base64 count the distinct forms of the
	// password searched for.
	Plain      int `json:"plain"`
	URLEncoded int `json:"url_encoded"`
	Base64     int `json:"base64"`
	// Hits counts the places one of the forms was found; any fails the test.
	Hits   int  `json:"hits"`
	Passed bool `json:"passed"`
}

// AppendLine writes v to the file at path as one JSON line.
func AppendLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadFuzz parses the JSON lines scripts/fuzz.sh wrote. A target written
// more than once keeps its last line, in the order of first appearance.
func ReadFuzz(path string) ([]Fuzz, error) {
	var out []Fuzz
	index := map[string]int{}
	err := eachLine(path, func(line []byte) error {
		var f Fuzz
		if err := json.Unmarshal(line, &f); err != nil {
			return err
		}
		if f.Target == "" || f.Package == "" {
			return fmt.Errorf("no target or package")
		}
		key := f.Package + "." + f.Target
		if j, ok := index[key]; ok {
			out[j] = f
			return nil
		}
		index[key] = len(out)
		out = append(out, f)
		return nil
	})
	return out, err
}

// ReadLeak parses the leak test's JSON line; the last one when it ran more
// than once.
func ReadLeak(path string) (Leak, error) {
	var l Leak
	n := 0
	err := eachLine(path, func(line []byte) error {
		n++
		l = Leak{}
		return json.Unmarshal(line, &l)
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("%s holds no line", path)
	}
	return l, err
}

func eachLine(path string, f func([]byte) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := f([]byte(line)); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	return nil
}

// KeptScenarios is the scenario part of an earlier RELIABILITY.md (its
// header, table and how-to, up to the fuzz, leak or "not measured"
// sections), for a run that measured fuzz and leak figures alone.
func KeptScenarios(md string) (string, error) {
	if !strings.HasPrefix(md, "# Reliability\n") || !strings.Contains(md, "\n| scenario | runs |") {
		return "", fmt.Errorf("no scenario table in it")
	}
	end := len(md)
	for _, h := range []string{fuzzHeading, leakHeading, notMeasuredHeading} {
		if i := strings.Index(md, "\n"+h+"\n"); i >= 0 && i+1 < end {
			end = i + 1
		}
	}
	return strings.TrimRight(md[:end], "\n") + "\n\n", nil
}
