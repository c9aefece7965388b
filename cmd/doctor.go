package cmd

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/internal/doctor"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// DoctorOptions is what `mqctl doctor` needs once its flags are parsed.
type DoctorOptions struct {
	IO          *output.Streams
	Format      output.Format
	AllContexts bool
	Ctx         context.Context
	f           *Factory
}

// NewCmdDoctor builds `mqctl doctor`; runF, when given, receives the
// options instead of the run.
func NewCmdDoctor(f *Factory, runF func(*DoctorOptions) error) *cobra.Command {
	o := &DoctorOptions{IO: f.IO, f: f}
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check connectivity, TLS, credentials, broker features and permissions of contexts",
		Long: `Check each context (the current one, -c a,b, or --all-contexts) the way mqctl's commands
will use it, read-only and bounded by --timeout (connecting, then again for the checks):

    connect     the broker answers
    tls         TLS on and verified (WARN when the certificate is not verified)
    auth        the credentials are accepted (the password is never shown)
    version     the broker's version
    management  RabbitMQ: the management API answers this user (ls, lag, dlq ls need it)
    jetstream   NATS: JetStream answers this account and user (lag, dlq need it)
    read        consume, peek, ls      produce  produce
    dlq         replay and purge       lag      lag, top, serve

Each check is OK, WARN (works with a limit), FAIL (a command will be refused) or UNKNOWN (the
broker does not let this client find out: RabbitMQ shows permissions to administrators only,
NATS never tells a client its subject permissions). Kafka permissions come from the ACL
operations the brokers report on the topics this client can see.

Exit codes: 0 when no check failed, 1 when one did (something a command needs is missing),
2 for bad flags.`,
		Example: `  mqctl doctor
  mqctl doctor -c prod-kafka,prod-rabbit
  mqctl doctor --all-contexts -o json
  mqctl doctor --url nats://localhost:4222 --timeout 3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			o.Format, o.Ctx = format, cmd.Context()
			multi := o.AllContexts || strings.Contains(f.Global.Context, ",")
			switch {
			case o.AllContexts && f.Global.Context != "":
				return mqerr.Usagef("--all-contexts and -c exclude each other")
			case multi && f.Global.URL != "":
				return mqerr.Usagef("--url names one broker: with -c a,b or --all-contexts each context uses its own URL")
			}
			if runF != nil {
				return runF(o)
			}
			return doctorRun(o)
		},
	}
	c.Flags().BoolVar(&o.AllContexts, "all-contexts", false, "check every context in the config file")
	return c
}

func doctorRun(o *DoctorOptions) error {
	targets, failures, _, err := lagTargets(o.f, o.AllContexts)
	if err != nil {
		return err
	}
	unresolved := make([]doctor.Unresolved, len(failures))
	for i, u := range failures {
		unresolved[i] = doctor.Unresolved{Context: u.Context, Error: u.Error}
	}
	reports := doctor.Run(o.Ctx, targets, unresolved)
	if err := output.List(o.IO, o.Format, reports, doctor.Table); err != nil {
		return err
	}
	if failed := doctor.FailedContexts(reports); len(failed) > 0 {
		return mqerr.New(mqerr.Failure, "doctor: a check failed in %s: a command needs what is missing", strings.Join(failed, ", "))
	}
	return nil
}
