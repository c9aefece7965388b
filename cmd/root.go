// Package cmd holds mqctl's cobra commands. Commands are thin: they parse
// flags, resolve the target and call into internal/.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	_ "github.com/mqctl/mqctl/internal/broker/kafka"    // registers kafka://
	_ "github.com/mqctl/mqctl/internal/broker/nats"     // registers nats://, tls://
	_ "github.com/mqctl/mqctl/internal/broker/rabbitmq" // registers amqp://, amqps://
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// Main runs mqctl with the process's arguments and returns the exit code.
func Main() int { return MainWith(NewRootCmd) }

// MainWith runs the command tree build returns with the process's
// arguments; the mqctl-sandbox binary uses it with its own tree.
func MainWith(build func(*Factory) *cobra.Command) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// The first signal asks for a clean stop; a second one kills at once.
	// The context's cause says which signal came: SIGTERM (a service
	// manager, Kubernetes) asks commands that can drain to do so and
	// finish as a normal stop; SIGINT is an interrupt (exit 130).
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		cause := errInterrupted
		if sig == syscall.SIGTERM {
			cause = errTerminated
		}
		cancel(cause)
	}()
	f := NewFactory(output.System())
	return RunRoot(ctx, f, build(f), os.Args[1:])
}

// The causes of the root context's end: a command that can drain treats
// errTerminated as a request to stop cleanly (consume --exec exits 0).
var (
	errInterrupted = errors.New("interrupted")
	errTerminated  = errors.New("terminated (SIGTERM)")
)

// Run executes one mqctl command line and maps its outcome to an exit code.
// In-process command tests call it with their own factory (cmd/inprocess_test.go).
func Run(ctx context.Context, f *Factory, args []string) int {
	return RunRoot(ctx, f, NewRootCmd(f), args)
}

// RunRoot executes args on root and maps the outcome to an exit code: the
// one place where errors become exit codes and one line on stderr.
func RunRoot(ctx context.Context, f *Factory, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return mqerr.ExitOK
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	if ctx.Err() != nil && !mqerr.Is(err, mqerr.Usage) {
		err = mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted"))
	}
	if !f.ranCommand && mqerr.KindOf(err) == mqerr.Failure {
		// cobra's own errors (unknown command, bad arguments) are usage errors.
		err = mqerr.Wrap(mqerr.Usage, withUseLine(cmd, err))
	}
	msg := broker.ScrubString(err.Error(), f.secrets...)
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ")
	output.ErrLine(f.IO.Err, "", msg)
	return mqerr.ExitCode(err)
}

// withUseLine adds the command's use line to cobra's argument-count errors
// ("accepts 1 arg(s), received 0"), which do not say which argument is
// missing.
func withUseLine(cmd *cobra.Command, err error) error {
	if cmd == nil || !cmd.HasParent() || strings.HasPrefix(err.Error(), "unknown command") {
		return err
	}
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return fmt.Errorf("%s: %w; usage: %s", path, err, cmd.UseLine())
}

// exitError carries an exit code decided by the command itself (--check
// modes use Nagios codes) after it already printed what it had to say.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mqctl",
		Short: "Operate Kafka, RabbitMQ and NATS from one command line",
		Long: `mqctl inspects and moves messages on Kafka, RabbitMQ and NATS (core and JetStream)
with confirm-before-ack safety: nothing it moves is acknowledged before the next step confirmed.

Exit codes: 0 ok, 1 failure, 2 usage or bad input, 3 partial (some messages not confirmed),
4 authentication or permission, 5 not found, 130 interrupted.`,
		Example: `  mqctl context add dev-kafka --url kafka://localhost:9092
  mqctl doctor
  mqctl ls
  mqctl lag --all-contexts
  mqctl dlq replay orders.DLT --dry-run`,
	}
	ConfigureRoot(f, root)
	root.AddCommand(
		NewCmdContext(f, nil),
		newLsCmd(f),
		NewCmdProduce(f, nil),
		NewCmdConsume(f, nil),
		NewCmdLag(f, nil),
		NewCmdOffsets(f, nil),
		newDLQCmd(f),
		NewCmdSandbox(f, nil),
		NewCmdVersion(f, nil),
		NewCmdBench(f, nil),
		NewCmdTop(f, nil),
		NewCmdServe(f, nil),
		NewCmdDoctor(f, nil),
		NewCmdCompletion(f, nil),
	)
	return root
}

// ConfigureRoot gives a root command mqctl's global flags and behaviour:
// silent cobra errors (RunRoot prints them), usage errors for bad flags.
func ConfigureRoot(f *Factory, root *cobra.Command) {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		// cobra checks required flags and flag groups only after this
		// hook, when the error would no longer read as a usage error.
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return mqerr.Wrap(mqerr.Usage, err)
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return mqerr.Wrap(mqerr.Usage, err)
		}
		if err := checkNonEmpty(cmd); err != nil {
			return err
		}
		f.ranCommand = true
		if f.Global.NoColor {
			f.IO.Color = false
		}
		// 0 would read as "no bound" or "the default" depending on who
		// reads it; neither is worth guessing at 3 a.m.
		if fl := cmd.Flags().Lookup("timeout"); fl != nil && fl.Changed && f.Global.Timeout <= 0 {
			return mqerr.Usagef("--timeout %s: want a positive duration such as 500ms or 10s", fl.Value)
		}
		_, err := f.Format()
		return err
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return mqerr.Wrap(mqerr.Usage, err) })

	pf := root.PersistentFlags()
	pf.StringVarP(&f.Global.Context, "context", "c", "", "context to use (env MQCTL_CONTEXT; default: the current context)")
	pf.StringVar(&f.Global.URL, "url", "", "broker URL, e.g. kafka://host:9092, amqp://host/vhost, nats://host:4222 (env MQCTL_URL)")
	pf.DurationVar(&f.Global.Timeout, "timeout", 0, "bound for connecting and each broker round trip, > 0 (default 10s)")
	pf.StringVarP(&f.Global.Output, "output", "o", "table", "output format: "+strings.Join(output.Formats, ", "))
	pf.BoolVar(&f.Global.NoColor, "no-color", false, "disable colour (also NO_COLOR)")
	pf.CountVarP(&f.Global.Verbose, "verbose", "v", "more detail on stderr (repeatable)")
	nonEmpty(pf, "context", "url")
	_ = root.RegisterFlagCompletionFunc("context", completeContextNames(f))
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "jsonl", "yaml", "template=", "prometheus", "raw"}, cobra.ShellCompDirectiveNoSpace))

}
