package cmd

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/config"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

func newContextCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:     "context",
		Aliases: []string{"ctx"},
		// A mistyped subcommand ("context lss") is an error, not help.
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		Short: "Manage named broker connections (contexts)",
		Long: `Contexts are stored in $MQCTL_CONFIG, else $XDG_CONFIG_HOME/mqctl/config.yaml
(written with mode 0600). MQCTL_CONTEXT and -c select one; MQCTL_URL and --url bypass them.`,
	}
	c.AddCommand(newContextAddCmd(f), newContextUseCmd(f), newContextLsCmd(f),
		newContextShowCmd(f), newContextRmCmd(f), newContextCurrentCmd(f))
	return c
}

type contextAddOptions struct {
	ctx       config.Context
	heartbeat time.Duration
	use       bool
	overwrite bool
}

func newContextAddCmd(f *Factory) *cobra.Command {
	o := &contextAddOptions{}
	c := &cobra.Command{
		Use:   "add NAME --url URL",
		Short: "Add a context (the global --url and --timeout are stored with it)",
		Example: `  mqctl context add prod-kafka --url kafka://k1:9092,k2:9092 --sasl SCRAM-SHA-512 --username ops --password-env KAFKA_PW --tls
  mqctl context add rabbit --url amqps://ops@rmq:5671/orders --password-file ~/.rmq-pass --tls-ca ca.pem
  mqctl context add nats --url nats://n1:4222,n2:4222 --creds ~/.nats/ops.creds --read-only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ctx.Name = args[0]
			o.ctx.URL = f.Global.URL
			o.ctx.Timeout = config.Duration(f.Global.Timeout)
			o.ctx.Heartbeat = config.Duration(o.heartbeat)
			if o.ctx.Password != "" {
				f.Warnf("--password is visible in shell history and process lists; prefer --password-env or --password-file")
			}
			return contextAddRun(f, o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.ctx.Username, "username", "", "user name")
	fl.StringVar(&o.ctx.Password, "password", "", "password, stored in the 0600 config file (prefer --password-env/--password-file)")
	fl.StringVar(&o.ctx.PasswordEnv, "password-env", "", "read the password from this environment variable at run time")
	fl.StringVar(&o.ctx.PasswordFile, "password-file", "", "read the password from this file at run time")
	fl.StringVar(&o.ctx.Token, "token", "", "NATS token, stored in the config file")
	fl.StringVar(&o.ctx.TokenEnv, "token-env", "", "read the NATS token from this environment variable")
	fl.StringVar(&o.ctx.TokenFile, "token-file", "", "read the NATS token from this file")
	fl.StringVar(&o.ctx.CredsFile, "creds", "", "NATS credentials file")
	fl.StringVar(&o.ctx.NKeyFile, "nkey", "", "NATS nkey seed file")
	fl.BoolVar(&o.ctx.TLS.Enabled, "tls", false, "use TLS (implied by amqps://, tls:// and the --tls-* flags)")
	fl.StringVar(&o.ctx.TLS.CAFile, "tls-ca", "", "CA certificate file to verify the broker")
	fl.StringVar(&o.ctx.TLS.CertFile, "tls-cert", "", "client certificate file")
	fl.StringVar(&o.ctx.TLS.KeyFile, "tls-key", "", "client key file")
	fl.StringVar(&o.ctx.TLS.ServerName, "tls-server-name", "", "server name to verify, when it differs from the host")
	fl.BoolVar(&o.ctx.TLS.InsecureSkipVerify, "tls-skip-verify", false, "do not verify the broker's certificate (unsafe)")
	fl.StringVar(&o.ctx.SASL, "sasl", "", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
	fl.StringVar(&o.ctx.ManagementURL, "management-url", "", "RabbitMQ management API URL (default derived from the AMQP URL)")
	fl.DurationVar(&o.heartbeat, "heartbeat", 0, "AMQP heartbeat interval")
	fl.BoolVar(&o.ctx.ReadOnly, "read-only", false, "refuse commands that change the broker through this context")
	fl.BoolVar(&o.use, "use", false, "make it the current context")
	fl.BoolVar(&o.overwrite, "overwrite", false, "replace an existing context of the same name")
	_ = c.RegisterFlagCompletionFunc("sasl", cobra.FixedCompletions([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func contextAddRun(f *Factory, o *contextAddOptions) error {
	c := o.ctx
	if c.URL == "" {
		return mqerr.Usagef("context add %s: --url is required", c.Name)
	}
	if err := broker.CheckURL(c.URL); err != nil {
		return err
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
	cfg, path, err := f.Config()
	if err != nil {
		return err
	}
	if _, exists := cfg.Get(c.Name); exists && !o.overwrite {
		return mqerr.Usagef("context %q already exists: pass --overwrite to replace it", c.Name)
	}
	cfg.Put(c)
	if o.use || cfg.CurrentContext == "" {
		cfg.CurrentContext = c.Name
	}
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Err, "context %q saved to %s\n", c.Name, path)
	return nil
}

func newContextUseCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "use NAME",
		Short:             "Make NAME the current context",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContextNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := f.Config()
			if err != nil {
				return err
			}
			if _, ok := cfg.Get(args[0]); !ok {
				return config.NotFound(args[0])
			}
			cfg.CurrentContext = args[0]
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Err, "current context is now %q\n", args[0])
			return nil
		},
	}
}

// contextRow is how `context ls` shows a context; secrets never appear.
type contextRow struct {
	Name     string `json:"name" yaml:"name"`
	Current  bool   `json:"current" yaml:"current"`
	URL      string `json:"url" yaml:"url"`
	ReadOnly bool   `json:"read_only" yaml:"read_only"`
}

func newContextLsCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List contexts",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			rows := make([]contextRow, 0, len(cfg.Contexts))
			for _, c := range cfg.Contexts {
				rows = append(rows, contextRow{Name: c.Name, Current: c.Name == cfg.CurrentContext, URL: broker.RedactURL(c.URL), ReadOnly: c.ReadOnly})
			}
			return output.List(f.IO, format, rows, func(rs []contextRow) output.Table {
				t := output.Table{Header: []string{"CURRENT", "NAME", "URL", "READ-ONLY"}}
				for _, r := range rs {
					cur := ""
					if r.Current {
						cur = "*"
					}
					t.Rows = append(t.Rows, []string{cur, r.Name, r.URL, strconv.FormatBool(r.ReadOnly)})
				}
				return t
			})
		},
	}
}

func newContextShowCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "show [NAME]",
		Short:             "Show a context (default: the one -c or MQCTL_CONTEXT selects, else the current one) with secrets redacted",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeContextNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			name := f.contextName(cfg)
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" {
				return mqerr.Usagef("no current context: name one, or run 'mqctl context use NAME'")
			}
			c, ok := cfg.Get(name)
			if !ok {
				return config.NotFound(name)
			}
			red := c.Redacted()
			if format.Name == "table" {
				format.Name = "yaml"
			}
			return output.Object(f.IO, format, red, nil)
		},
	}
}

func newContextRmCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "rm NAME",
		Aliases:           []string{"delete"},
		Short:             "Remove a context",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContextNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := f.Config()
			if err != nil {
				return err
			}
			if err := cfg.Remove(args[0]); err != nil {
				return err
			}
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Err, "context %q removed\n", args[0])
			return nil
		},
	}
}

func newContextCurrentCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "current",
		Short: "Print the name of the current context",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			name := f.contextName(cfg)
			if name == "" {
				return mqerr.Usagef("no current context: run 'mqctl context use NAME'")
			}
			fmt.Fprintln(f.IO.Out, name)
			return nil
		},
	}
}

// completeContextNames completes context names from the config file.
func completeContextNames(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, _, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, c := range cfg.Contexts {
			names = append(names, c.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
