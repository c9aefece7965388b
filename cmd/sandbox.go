package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// sandboxBinary is the program `mqctl sandbox` hands over to. The embedded
// brokers live there so that every other mqctl command starts fast.
const sandboxBinary = "mqctl-sandbox"

// SandboxOptions is what `mqctl sandbox` needs: the command line it hands
// over (its flags are mqctl-sandbox's, not parsed here) and how it finds
// and starts that program.
type SandboxOptions struct {
	// Args is mqctl's command line without the program name.
	Args []string
	// Self is mqctl's own path (os.Executable); LookPath searches PATH.
	Self     func() (string, error)
	LookPath func(string) (string, error)
	// Exec replaces this process (syscall.Exec).
	Exec func(path string, argv, env []string) error
}

// NewCmdSandbox builds `mqctl sandbox`; runF, when given, receives the
// options instead of the run.
func NewCmdSandbox(f *Factory, runF func(*SandboxOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "sandbox",
		Short: "Run real Kafka, NATS (JetStream) and RabbitMQ brokers on this machine",
		Long: `Run brokers in the foreground until Ctrl-C: Kafka (franz-go's kfake) and NATS with
JetStream embedded, and RabbitMQ as an isolated rabbitmq-server child when it is installed.
Prints one line per broker and registers the contexts sandbox-kafka, sandbox-nats and
sandbox-rabbitmq until it stops (Ctrl-C removes those still as it wrote them); a default port that is taken is replaced by a free one, and the lines and
contexts carry the port chosen. 'mqctl sandbox --help' lists its flags (--demo, --data-dir, ports).

This runs the mqctl-sandbox program found next to mqctl or on PATH, in this same process.`,
		Example: `  mqctl sandbox
  mqctl sandbox --demo
  mqctl sandbox --no-kafka --no-nats --amqp-port 0`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.ranCommand = true
			opts := &SandboxOptions{Args: os.Args[1:], Self: os.Executable, LookPath: exec.LookPath, Exec: syscall.Exec}
			if runF != nil {
				return runF(opts)
			}
			return sandboxRun(opts)
		},
	}
}

// sandboxRun replaces this process with mqctl-sandbox, passing every
// argument but the word "sandbox", so it stays one foreground process that
// receives Ctrl-C itself.
func sandboxRun(opts *SandboxOptions) error {
	path, err := findSandbox(opts)
	if err != nil {
		return err
	}
	argv := []string{path}
	dropped := false
	for _, a := range opts.Args {
		if a == "sandbox" && !dropped {
			dropped = true
			continue
		}
		argv = append(argv, a)
	}
	return opts.Exec(path, argv, os.Environ())
}

// findSandbox looks next to this executable first (make build puts both in
// bin/), then on PATH.
func findSandbox(opts *SandboxOptions) (string, error) {
	if self, err := opts.Self(); err == nil {
		p := filepath.Join(filepath.Dir(self), sandboxBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := opts.LookPath(sandboxBinary)
	if errors.Is(err, exec.ErrNotFound) {
		return "", mqerr.Usagef("%s not found next to mqctl or on PATH: make build, or go install github.com/mqctl/mqctl/cmd/mqctl-sandbox", sandboxBinary)
	}
	return p, err
}
