package consume

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/envelope"
	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestParseFrom(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want broker.StartPosition
	}{
		{"beginning", broker.StartPosition{Kind: broker.StartBeginning}},
		{"END", broker.StartPosition{Kind: broker.StartEnd}},
		{"stored", broker.StartPosition{Kind: broker.StartStored}},
		{"42", broker.StartPosition{Kind: broker.StartOffset, N: 42}},
		{"0", broker.StartPosition{Kind: broker.StartOffset, N: 0}},
		{"-10", broker.StartPosition{Kind: broker.StartLast, N: 10}},
		// The last none: the end, not offset 0 (the beginning).
		{"-0", broker.StartPosition{Kind: broker.StartEnd}},
		{"-000", broker.StartPosition{Kind: broker.StartEnd}},
		{"+0", broker.StartPosition{Kind: broker.StartOffset, N: 0}},
		// Clock skew between hosts is tolerated.
		{"2026-11-22T12:00:59Z", broker.StartPosition{Kind: broker.StartTime, Time: now.Add(59 * time.Second)}},
		{"2026-11-22T10:00:00Z", broker.StartPosition{Kind: broker.StartTime, Time: now.Add(-2 * time.Hour)}},
		{"15m", broker.StartPosition{Kind: broker.StartTime, Time: now.Add(-15 * time.Minute)}},
	}
	for _, tc := range tests {
		got, err := ParseFrom(tc.in, now)
		if err != nil {
			t.Fatalf("ParseFrom(%q): %v", tc.in, err)
		}
		if got.Kind != tc.want.Kind || got.N != tc.want.N || !got.Time.Equal(tc.want.Time) {
			t.Errorf("ParseFrom(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", " ", "yesterday", "-5m", "1.5", "2026-13-01"} {
		if _, err := ParseFrom(bad, now); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("ParseFrom(%q) = %v, want a usage error", bad, err)
		}
	}
	// A time ahead of the clock would start at the end on both brokers
	// and deliver what comes before it.
	for _, future := range []string{"2030-01-01T00:00:00Z", "2026-11-22T12:01:01Z", "2026-11-22T13:30:00+01:00"} {
		_, err := ParseFrom(future, now)
		if !mqerr.Is(err, mqerr.Usage) || err.Error() != "--from "+future+" is in the future (now is 2026-11-22T12:00:00Z): want a time up to now" {
			t.Errorf("ParseFrom(%q) = %v, want a usage error naming --from and the time", future, err)
		}
	}
}

func printAll(t *testing.T, p Printer, msgs ...*broker.Message) string {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := p.Begin(w); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := p.Print(w, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.End(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.String()
}

func kafkaMsg(key, value string, offset int64) *broker.Message {
	return &broker.Message{Key: []byte(key), Value: []byte(value), Destination: "orders",
		Kafka:   broker.KafkaMeta{Partition: 2, Offset: offset},
		Headers: []broker.Header{{Key: "bin", Value: []byte{0xff, 0, 1}}, {Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}}}
}

func TestPrinters(t *testing.T) {
	a, b := kafkaMsg("k1", "hello", 7), kafkaMsg("k2", "wor\xffld", 8)

	raw, _ := NewPrinter("raw", "kafka")
	if got := printAll(t, raw, a, b); got != "hello\nwor\xffld\n" {
		t.Errorf("raw = %q", got)
	}

	// jsonl reads back through the envelope byte for byte.
	jl, _ := NewPrinter("jsonl", "kafka")
	lines := strings.Split(strings.TrimSuffix(printAll(t, jl, a, b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl lines = %d", len(lines))
	}
	for i, want := range []*broker.Message{a, b} {
		got, err := envelope.Decode([]byte(lines[i]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) || len(got.Headers) != 3 ||
			!bytes.Equal(got.Headers[0].Value, []byte{0xff, 0, 1}) || string(got.Headers[2].Value) != "2" {
			t.Errorf("line %d decodes to %+v", i, got)
		}
	}

	js, _ := NewPrinter("json", "kafka")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(printAll(t, js, a, b)), &arr); err != nil || len(arr) != 2 || arr[1]["offset"] != 8.0 {
		t.Errorf("json array = %v, %v", arr, err)
	}
	js, _ = NewPrinter("json", "kafka")
	if got := printAll(t, js); got != "[]\n" {
		t.Errorf("empty json = %q", got)
	}

	tp, err := NewPrinter(`template={{.Partition}}/{{.Offset}} {{.Key}}={{.Value}} h={{.Header "h"}}`, "kafka")
	if err != nil {
		t.Fatal(err)
	}
	if got := printAll(t, tp, a); got != "2/7 k1=hello h=1\n" {
		t.Errorf("template = %q", got)
	}
	if _, err := NewPrinter("template={{.Nope", "kafka"); !mqerr.Is(err, mqerr.Usage) {
		t.Errorf("bad template: %v", err)
	}
	if _, err := NewPrinter("yaml", "kafka"); !mqerr.Is(err, mqerr.Usage) {
		t.Errorf("yaml: %v", err)
	}
}

func TestExecRun(t *testing.T) {
	m := kafkaMsg("k\x00ey", "payload", 9)
	var out, errOut bytes.Buffer
	e := &Exec{Command: `cat; echo " $MQ_DESTINATION $MQ_PARTITION $MQ_OFFSET $MQ_KEY_B64 $MQ_ATTEMPT"; echo "$MQ_HEADERS_JSON"`, Broker: "kafka", Stdout: &out, Stderr: &errOut}
	if err := e.Run(context.Background(), m, 2); err != nil {
		t.Fatal(err)
	}
	want := "payload orders 2 9 awBleQ== 2\n" + `[["bin",{"b64":"/wAB"}],["h","1"],["h","2"]]` + "\n"
	if out.String() != want {
		t.Errorf("handler saw\n%q\nwant\n%q", out.String(), want)
	}

	e = &Exec{Command: `echo first >&2; echo "disk full" >&2; exit 7`, Broker: "kafka", Stderr: &errOut}
	err := e.Run(context.Background(), m, 1)
	if err == nil || err.Error() != "exit status 7: disk full" {
		t.Errorf("failure = %v", err)
	}

	e = &Exec{Command: "sleep 5", Broker: "kafka", Timeout: 100 * time.Millisecond}
	if err := e.Run(context.Background(), m, 1); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("timeout = %v", err)
	}
}

// MQ_HEADERS_JSON tells a null header value from an empty one and keeps
// the bytes of a name that is not UTF-8, as the envelope does.
func TestHeadersJSONNullsAndBinaryNames(t *testing.T) {
	got := headersJSON([]broker.Header{{Key: "n", Value: nil}, {Key: "e", Value: []byte{}}, {Key: "\xff", Value: []byte("v")}, {Key: "a\x00", Value: []byte("\x00")}})
	want := `[["n",null],["e",""],[{"b64":"/w=="},"v"],[{"b64":"YQA="},{"b64":"AA=="}]]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCheckCommand(t *testing.T) {
	for _, ok := range []string{"cat", "sh -c 'exit 1'", "echo hi", "FOO=1 cat", "if true; then cat; fi", "/bin/cat -u"} {
		if err := CheckCommand(ok); err != nil {
			t.Errorf("CheckCommand(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "no-such-program-mqctl --x", "/nope/cat"} {
		if err := CheckCommand(bad); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("CheckCommand(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestParseOnFail(t *testing.T) {
	for in, want := range map[string]OnFail{
		"requeue": {Kind: "requeue"}, "stop": {Kind: "stop"}, "reject": {Kind: "reject"},
		"dead-letter=orders.DLT":            {Kind: "dead-letter", Dest: "orders.DLT"},
		"retry=30s":                         {Delays: []time.Duration{30 * time.Second}},
		"retry=30s,2m,1h30m":                {Delays: []time.Duration{30 * time.Second, 2 * time.Minute, 90 * time.Minute}},
		"retry=1s,1500ms,dead-letter=a,b.q": {Kind: "dead-letter", Dest: "a,b.q", Delays: []time.Duration{time.Second, 1500 * time.Millisecond}},
		"retry=2s,reject":                   {Kind: "reject", Delays: []time.Duration{2 * time.Second}},
		"retry=2s,stop":                     {Kind: "stop", Delays: []time.Duration{2 * time.Second}},
	} {
		got, err := ParseOnFail(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseOnFail(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"dead-letter=", "drop", "", "retry=", "retry=soon", "retry=0s", "retry=-1s", "retry=1us", "retry=1s,drop", "retry=1s,dead-letter=",
		"retry=1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"} {
		if _, err := ParseOnFail(bad); !mqerr.Is(err, mqerr.Usage) {
			t.Errorf("ParseOnFail(%q) = %v", bad, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute} {
		if got := backoff(time.Second, attempt); got != want {
			t.Errorf("backoff(1s, %d) = %s, want %s", attempt, got, want)
		}
	}
}

// Handlers inherit no variable holding a credential mqctl used, and keep
// the rest of the environment (issue 11, item 12).
func TestHandlerEnviron(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/home/guest", "MQCTL_PASSWORD=x", "MQCTL_URL=amqp://h/",
		"PROBE_PW=pw-of-the-context", "NATS_TOK=tok-1", "SAME_VALUE=s3cret", "BROKER=amqp://u:s3cret@h/",
		"EMPTY=", "NOT_A_URL=prefix-s3cret",
	}
	got := strings.Join(handlerEnviron(environ, []string{"s3cret", "guest"}, []string{"PROBE_PW", "NATS_TOK"}), " ")
	if want := "PATH=/usr/bin HOME=/home/guest EMPTY= NOT_A_URL=prefix-s3cret"; got != want {
		t.Errorf("handler environment %q, want %q", got, want)
	}
}

// Templates valid for some messages are accepted up front; names a
// message does not have are refused before anything is read; a template
// that fails on one message names it.
func TestTemplateCheckedUpFront(t *testing.T) {
	for _, ok := range []string{
		`{{slice .Value 0 2}}`,
		`{{(index .Headers 0).Key}}`,
		`{{.Timestamp.Unix}} {{.Header "h"}} {{.JSON}} {{upper .Key}}`,
		`{{range .Headers}}{{.Key}}={{printf "%s" .Value}} {{$.Partition}}{{end}}`,
		`{{with .Key}}{{.}}{{else}}{{.Value}}{{end}}`,
		`{{if .Redelivered}}{{.Queue}}{{else}}{{.Subject}}{{end}}`,
		`{{$v := .Value}}{{$v}}`,
	} {
		if _, err := NewPrinter("template="+ok, "kafka"); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for bad, mention := range map[string]string{
		`{{.NoSuchField}}`:                       "no field or method NoSuchField (it has ",
		`{{.Value.Length}}`:                      "string has no field or method Length",
		`{{range .Headers}}{{$.Nope}}{{end}}`:    "Nope",
		`{{if .Key}}{{.Vaule}}{{end}}`:           "Vaule",
		`{{nosuchfunc .Value}}`:                  `"nosuchfunc" not defined`,
		`{{with .Key}}{{else}}{{.Nope2}}{{end}}`: "Nope2",
	} {
		if _, err := NewPrinter("template="+bad, "kafka"); !mqerr.Is(err, mqerr.Usage) || !strings.Contains(err.Error(), mention) {
			t.Errorf("%s: %v, want a usage error mentioning %q", bad, err, mention)
		}
	}
	p, _ := NewPrinter(`template={{slice .Value 0 2}}`, "kafka")
	var b bytes.Buffer
	err := p.Print(bufio.NewWriter(&b), kafkaMsg("k", "x", 5))
	var te *TemplateError
	if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "orders[2]@5: template: ") {
		t.Fatalf("got %v", err)
	}
}

// ParseOnFail never panics and what it accepts is whole: delays of at
// least a millisecond, at most maxDelays, or an action.
func FuzzParseOnFail(f *testing.F) {
	for _, s := range []string{"retry=30s,2m,dead-letter=q", "retry=1s,stop", "retry=", "dead-letter=x", "retry=1ms,,", "requeue"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		of, err := ParseOnFail(s)
		if err != nil {
			if !mqerr.Is(err, mqerr.Usage) {
				t.Fatalf("%q: %v is not a usage error", s, err)
			}
			return
		}
		if len(of.Delays) > maxDelays || (len(of.Delays) == 0 && of.Kind == "") {
			t.Fatalf("%q: %+v", s, of)
		}
		for _, d := range of.Delays {
			if d < time.Millisecond {
				t.Fatalf("%q: delay %s", s, d)
			}
		}
	})
}
