package consume

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/tracecontext"
)

// Exec runs a shell command per message: the value on its stdin, the
// metadata in MQ_* environment variables. Exit status 0 means handled.
type Exec struct {
	Command string
	Broker  string
	// Stdout receives each run's standard output as one block, so the
	// output of concurrent handlers does not interleave mid-line.
	Stdout io.Writer
	// Stderr receives the handlers' standard error as it comes.
	Stderr io.Writer
	// Timeout bounds one run (0: no bound).
	Timeout time.Duration
	// Secrets are the credentials mqctl used and SecretEnv the variables it
	// read them from: handlers inherit no variable that holds one.
	Secrets   []string
	SecretEnv []string

	outMu sync.Mutex
	// environ is mqctl's environment for handlers, read once.
	envOnce sync.Once
	environ []string
}

// shellWords are words a command may start with that are not programs.
var shellWords = map[string]bool{
	"cd": true, "echo": true, "printf": true, "test": true, "[": true, "exit": true, "true": true, "false": true,
	"read": true, ":": true, ".": true, "eval": true, "exec": true, "if": true, "for": true, "while": true,
	"until": true, "case": true, "!": true, "{": true, "(": true, "export": true, "set": true, "command": true,
}

// CheckCommand fails with a usage error when the program a command starts
// with cannot be found, so a typo stops the run before anything is
// consumed. Commands starting with shell syntax are left to the shell.
func CheckCommand(command string) error {
	fields := strings.Fields(command)
	if len(fields) == 0 {
		return mqerr.Usagef("--exec: the command is empty")
	}
	first := fields[0]
	if shellWords[first] || strings.ContainsAny(first, "=$`'\"();&|<>*?") {
		return nil
	}
	if _, err := exec.LookPath(first); err != nil {
		return mqerr.Usagef("--exec: command %q not found", first)
	}
	return nil
}

// Run runs the command once for m. attempt counts from 1. The error says
// how the command failed: its exit status and the last line it wrote to
// standard error.
func (e *Exec) Run(ctx context.Context, m *broker.Message, attempt int) error {
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", e.Command)
	cmd.Stdin = bytes.NewReader(m.Value)
	var out bytes.Buffer
	cmd.Stdout = &out
	tail := &tailWriter{w: e.Stderr}
	cmd.Stderr = tail
	e.envOnce.Do(func() { e.environ = handlerEnviron(os.Environ(), e.Secrets, e.SecretEnv) })
	cmd.Env = append(slices.Clip(e.environ), Env(e.Broker, m, attempt)...)
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if out.Len() > 0 && e.Stdout != nil {
		e.outMu.Lock()
		e.Stdout.Write(out.Bytes())
		e.outMu.Unlock()
	}
	if err == nil {
		return nil
	}
	reason := err.Error()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		reason = "exit status " + strconv.Itoa(exit.ExitCode())
	}
	if ctx.Err() == context.DeadlineExceeded {
		reason = fmt.Sprintf("timed out after %s", e.Timeout)
	}
	if last := tail.lastLine(); last != "" {
		reason += ": " + last
	}
	return errors.New(reason)
}

// handlerEnviron is environ without the variables that hold a credential
// mqctl used: its own MQCTL_* variables (MQCTL_URL and MQCTL_PASSWORD may
// hold one), the variables named in secretEnv (a context's password_env,
// token_env), and any variable whose value is a secret or a URL carrying
// one. The rest of the environment is kept.
func handlerEnviron(environ, secrets, secretEnv []string) []string {
	var env []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		// TRACEPARENT and TRACESTATE are each message's own (see Env):
		// mqctl's would put every message in one trace.
		if strings.HasPrefix(name, "MQCTL_") || slices.Contains(secretEnv, name) || holdsSecret(value, secrets) ||
			name == "TRACEPARENT" || name == "TRACESTATE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// holdsSecret reports whether value is one of secrets, or a URL with one
// in it. A mere substring elsewhere does not count: a password "guest"
// must not take HOME=/home/guest away from a handler.
func holdsSecret(value string, secrets []string) bool {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if value == s || (strings.Contains(value, "://") && strings.Contains(value, s)) {
			return true
		}
	}
	return false
}

// Env is the handler's MQ_* environment for m. A key or header that is not
// valid text goes base64-encoded (MQ_KEY_B64; headers in MQ_HEADERS_JSON as
// the envelope writes them).
func Env(brokerName string, m *broker.Message, attempt int) []string {
	env := []string{"MQ_BROKER=" + brokerName, "MQ_DESTINATION=" + m.Destination, "MQ_ATTEMPT=" + strconv.Itoa(attempt)}
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	if m.Key != nil {
		if utf8.Valid(m.Key) && bytes.IndexByte(m.Key, 0) < 0 {
			env = append(env, "MQ_KEY="+string(m.Key))
		} else {
			env = append(env, "MQ_KEY_B64="+base64.StdEncoding.EncodeToString(m.Key))
		}
	}
	if !m.Timestamp.IsZero() {
		add("MQ_TIMESTAMP", m.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	switch broker.MetaKindOf(brokerName) {
	case broker.MetaKafka:
		add("MQ_PARTITION", strconv.FormatInt(int64(m.Kafka.Partition), 10))
		add("MQ_OFFSET", strconv.FormatInt(m.Kafka.Offset, 10))
	case broker.MetaAMQP:
		add("MQ_EXCHANGE", m.AMQP.Exchange)
		add("MQ_ROUTING_KEY", m.AMQP.RoutingKey)
		add("MQ_QUEUE", m.AMQP.Queue)
		add("MQ_REDELIVERED", strconv.FormatBool(m.AMQP.Redelivered))
		add("MQ_CONTENT_TYPE", m.AMQP.ContentType)
		add("MQ_CORRELATION_ID", m.AMQP.CorrelationID)
	case broker.MetaNATS:
		add("MQ_SUBJECT", m.NATS.Subject)
		add("MQ_STREAM", m.NATS.Stream)
		if m.NATS.StreamSeq > 0 {
			add("MQ_STREAM_SEQ", strconv.FormatUint(m.NATS.StreamSeq, 10))
		}
		if m.NATS.NumDelivered > 0 {
			add("MQ_DELIVERY_COUNT", strconv.FormatUint(m.NATS.NumDelivered, 10))
		}
	}
	add("MQ_MESSAGE_ID", messageID(m))
	env = append(env, "MQ_HEADERS_JSON="+headersJSON(m.Headers))
	// The W3C trace context, under the names OpenTelemetry SDKs read.
	parent, state := tracecontext.FromHeaders(m.Headers)
	add("TRACEPARENT", parent)
	add("TRACESTATE", state)
	return env
}

// headersJSON writes headers as the envelope does: [[name, value], ...],
// a name or value that is not text as {"b64": ...}, a null value (Kafka)
// as null. NUL bytes cannot go into the environment, so names and values
// holding one are base64 too.
func headersJSON(hs []broker.Header) string {
	pairs := make([][2]any, 0, len(hs))
	for _, h := range hs {
		var v any
		if h.Value != nil {
			v = envText(h.Value)
		}
		pairs = append(pairs, [2]any{envText([]byte(h.Key)), v})
	}
	b, _ := json.Marshal(pairs)
	return string(b)
}

// envText is b as a JSON string, or {"b64": ...} when it is not UTF-8 text
// or holds a NUL byte.
func envText(b []byte) any {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return map[string]string{"b64": base64.StdEncoding.EncodeToString(b)}
	}
	return string(b)
}

// tailWriter passes writes through and keeps the last bytes, so a
// failure can name the handler's last complaint.
type tailWriter struct {
	w    io.Writer
	tail []byte
}

const tailSize = 512

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		t.w.Write(p)
	}
	t.tail = append(t.tail, p...)
	if len(t.tail) > tailSize {
		t.tail = t.tail[len(t.tail)-tailSize:]
	}
	return len(p), nil
}

func (t *tailWriter) lastLine() string {
	s := strings.TrimRight(string(t.tail), "\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
