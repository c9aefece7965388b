package consume

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestShutdownTimeoutFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exec    string
		timeout time.Duration
		want    string // error text; empty: accepted
	}{
		{"with exec", "cat", 5 * time.Second, ""},
		{"zero is no bound", "cat", 0, ""},
		{"negative", "cat", -time.Second, "durations must not be negative"},
		{"without exec", "", time.Second, "--shutdown-timeout applies to --exec handlers only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := Flags{Ack: "after-output", Concurrency: 1, Exec: tc.exec, ShutdownTimeout: tc.timeout}
			fl.Consumer.Prefetch = 1
			run, err := fl.RunOptions(func(name string) bool { return name == "shutdown-timeout" }, io.Discard, io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && run.ShutdownTimeout != tc.timeout:
				t.Errorf("ShutdownTimeout %s, want %s", run.ShutdownTimeout, tc.timeout)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !mqerr.Is(err, mqerr.Usage)):
				t.Errorf("error %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

func TestServeFlag(t *testing.T) {
	for _, tc := range []struct {
		exec, addr, want string
	}{
		{"cat", ":8080", ""},
		{"cat", "127.0.0.1:0", ""},
		{"cat", "8080", "--serve \"8080\": want host:port"},
		{"cat", "localhost:", "want host:port"},
		{"cat", "http://x:1", "want host:port"},
		{"", ":8080", "--serve applies to --exec handlers only"},
	} {
		fl := Flags{Ack: "after-output", Concurrency: 1, Exec: tc.exec, Serve: tc.addr}
		fl.Consumer.Prefetch = 1
		_, err := fl.RunOptions(func(name string) bool { return name == "serve" }, io.Discard, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("--serve %s refused: %v", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !mqerr.Is(err, mqerr.Usage)):
			t.Errorf("--serve %s (exec %q): error %v, want a usage error with %q", tc.addr, tc.exec, err, tc.want)
		}
	}
}
