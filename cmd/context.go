package cmd

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/config"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// ContextOptions is what a `mqctl context` subcommand needs once its flags
// are parsed: Action names the subcommand (add, use, ls, show, rm,
// current), Name its NAME argument.
type ContextOptions struct {
	IO     *output.Streams
	Format output.Format
	Action string
	Name   string
	// Add is the context `context add` saves; Use makes it current,
	// Overwrite replaces one of the same name.
	Add            config.Context
	Use, Overwrite bool
	f              *Factory // the contexts file, -c and MQCTL_CONTEXT
}

// NewCmdContext builds `mqctl context` and its subcommands; runF, when
// given, receives the options instead of the run (tests check the parsing
// there).
func NewCmdContext(f *Factory, runF func(*ContextOptions) error) *cobra.Command {
	c := &cobra.Command{
		Use:     "context",
		Aliases: []string{"ctx"},
		// A mistyped subcommand ("context lss") is an error, not help.
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		Short: "Manage named broker connections (contexts)",
		Long: `Contexts are stored in $MQCTL_CONFIG, else $XDG_CONFIG_HOME/mqctl/config.yaml
(written with mode 0600). MQCTL_CONTEXT and -c select one; MQCTL_URL and --url bypass them.`,
		Example: `  mqctl context add prod-kafka --url kafka://k1:9092,k2:9092 --sasl SCRAM-SHA-512 --username ops --password-env KAFKA_PW
  mqctl context use prod-kafka
  mqctl context ls`,
	}
	o := &ContextOptions{f: f, IO: f.IO}
	// run fills in what every subcommand shares and runs it.
	run := func(action string) func(*cobra.Command, []string) error {
		return func(_ *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			o.Action, o.Format = action, format
			if len(args) == 1 {
				o.Name = args[0]
			}
			if runF != nil {
				return runF(o)
			}
			return contextRun(o)
		}
	}
	c.AddCommand(newContextAddCmd(o, run("add")),
		&cobra.Command{Use: "use NAME", Short: "Make NAME the current context", Args: cobra.ExactArgs(1),
			Example: "  mqctl context use prod-kafka", ValidArgsFunction: completeContextNames(f), RunE: run("use")},
		&cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "List contexts", Args: cobra.NoArgs, RunE: run("ls"),
			Example: "  mqctl context ls\n  mqctl context ls -o json"},
		&cobra.Command{Use: "show [NAME]", Args: cobra.MaximumNArgs(1), ValidArgsFunction: completeContextNames(f), RunE: run("show"),
			Short:   "Show a context (default: the one -c or MQCTL_CONTEXT selects, else the current one) with secrets redacted",
			Example: "  mqctl context show\n  mqctl context show prod-kafka -o yaml"},
		&cobra.Command{Use: "rm NAME", Aliases: []string{"delete"}, Short: "Remove a context", Args: cobra.ExactArgs(1),
			Example: "  mqctl context rm old-staging", ValidArgsFunction: completeContextNames(f), RunE: run("rm")},
		&cobra.Command{Use: "current", Short: "Print the name of the current context", Args: cobra.NoArgs, RunE: run("current"),
			Example: "  mqctl context current"})
	return c
}

func newContextAddCmd(o *ContextOptions, run func(*cobra.Command, []string) error) *cobra.Command {
	var heartbeat time.Duration
	c := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Add a context (the global --url and --timeout are stored with it)",
		Example: `  mqctl context add prod-kafka --url kafka://k1:9092,k2:9092 --sasl SCRAM-SHA-512 --username ops --password-env KAFKA_PW --tls
  mqctl context add rabbit --url amqps://ops@rmq:5671/orders --password-file ~/.rmq-pass --tls-ca ca.pem
  mqctl context add nats --url nats://n1:4222,n2:4222 --creds ~/.nats/ops.creds --read-only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Add.Name = args[0]
			o.Add.URL = o.f.Global.URL
			o.Add.Timeout = config.Duration(o.f.Global.Timeout)
			o.Add.Heartbeat = config.Duration(heartbeat)
			return run(cmd, args)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.Add.Username, "username", "", "user name")
	fl.StringVar(&o.Add.Password, "password", "", "password, stored in the 0600 config file (prefer --password-env/--password-file)")
	fl.StringVar(&o.Add.PasswordEnv, "password-env", "", "read the password from this environment variable at run time")
	fl.StringVar(&o.Add.PasswordFile, "password-file", "", "read the password from this file at run time")
	fl.StringVar(&o.Add.Token, "token", "", "NATS token, stored in the config file")
	fl.StringVar(&o.Add.TokenEnv, "token-env", "", "read the NATS token from this environment variable")
	fl.StringVar(&o.Add.TokenFile, "token-file", "", "read the NATS token from this file")
	fl.StringVar(&o.Add.CredsFile, "creds", "", "NATS credentials file")
	fl.StringVar(&o.Add.NKeyFile, "nkey", "", "NATS nkey seed file")
	fl.BoolVar(&o.Add.TLS.Enabled, "tls", false, "use TLS (implied by amqps://, tls:// and the --tls-* flags)")
	fl.StringVar(&o.Add.TLS.CAFile, "tls-ca", "", "CA certificate file to verify the broker")
	fl.StringVar(&o.Add.TLS.CertFile, "tls-cert", "", "client certificate file")
	fl.StringVar(&o.Add.TLS.KeyFile, "tls-key", "", "client key file")
	fl.StringVar(&o.Add.TLS.ServerName, "tls-server-name", "", "server name to verify, when it differs from the host")
	fl.BoolVar(&o.Add.TLS.InsecureSkipVerify, "tls-skip-verify", false, "do not verify the broker's certificate (unsafe)")
	fl.StringVar(&o.Add.SASL, "sasl", "", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
	fl.StringVar(&o.Add.ManagementURL, "management-url", "", "RabbitMQ management API URL, http(s)://host[:port][/path] (default derived from the AMQP URL)")
	fl.DurationVar(&heartbeat, "heartbeat", 0, "AMQP heartbeat interval")
	fl.BoolVar(&o.Add.ReadOnly, "read-only", false, "refuse commands that change the broker through this context")
	fl.BoolVar(&o.Use, "use", false, "make it the current context")
	fl.BoolVar(&o.Overwrite, "overwrite", false, "replace an existing context of the same name")
	_ = c.RegisterFlagCompletionFunc("sasl", cobra.FixedCompletions([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func contextRun(o *ContextOptions) error {
	if o.Action == "add" {
		return contextAdd(o)
	}
	cfg, path, err := o.f.Config()
	if err != nil {
		return err
	}
	switch o.Action {
	case "ls":
		return output.List(o.IO, o.Format, cfg.Entries(), config.EntryTable)
	case "show", "current":
		name := o.Name
		if name == "" {
			name = o.f.contextName(cfg)
		}
		switch {
		case name == "" && o.Action == "show":
			return mqerr.Usagef("no current context: name one, or run 'mqctl context use NAME'")
		case name == "":
			return mqerr.Usagef("no current context: run 'mqctl context use NAME'")
		case o.Action == "current":
			_, err := fmt.Fprintln(o.IO.Out, name)
			return err
		}
		c, ok := cfg.Get(name)
		if !ok {
			return config.NotFound(name)
		}
		format := o.Format
		if format.Name == "table" {
			format.Name = "yaml"
		}
		return output.Object(o.IO, format, c.Redacted(), nil)
	case "use":
		if _, ok := cfg.Get(o.Name); !ok {
			return config.NotFound(o.Name)
		}
		cfg.CurrentContext = o.Name
		return saveThen(o, cfg, path, "current context is now %q\n")
	case "rm":
		if err := cfg.Remove(o.Name); err != nil {
			return err
		}
		return saveThen(o, cfg, path, "context %q removed\n")
	}
	return fmt.Errorf("context: unknown action %q", o.Action)
}

// saveThen saves the file and says what changed (msg quotes o.Name).
func saveThen(o *ContextOptions, cfg *config.File, path, msg string) error {
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Err, msg, o.Name)
	return nil
}

func contextAdd(o *ContextOptions) error {
	c := o.Add
	if c.Password != "" {
		o.f.Warnf("--password is visible in shell history and process lists; prefer --password-env or --password-file")
	}
	if err := c.Check(); err != nil {
		return err
	}
	cfg, path, err := o.f.Config()
	if err != nil {
		return err
	}
	if _, exists := cfg.Get(c.Name); exists && !o.Overwrite {
		return mqerr.Usagef("context %q already exists: pass --overwrite to replace it", c.Name)
	}
	cfg.Put(c)
	if o.Use || cfg.CurrentContext == "" {
		cfg.CurrentContext = c.Name
	}
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Err, "context %q saved to %s\n", c.Name, path)
	return nil
}

// completeContextNames completes context names from the config file.
// After a comma (-c a,b for lag, top, serve, doctor) it completes the
// last name of the list, offering the list so far plus each context not
// in it yet.
func completeContextNames(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, _, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		listed := toComplete[:strings.LastIndex(toComplete, ",")+1] // "" without a comma
		taken := strings.Split(listed, ",")
		var names []cobra.Completion
		for _, c := range cfg.Contexts {
			if !slices.Contains(taken, c.Name) {
				names = append(names, listed+c.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
