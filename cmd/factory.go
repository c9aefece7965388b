package cmd

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/config"
	"github.com/mqctl/mqctl/internal/lag"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/output"
)

// GlobalFlags are the persistent flags every command shares.
type GlobalFlags struct {
	Context string
	URL     string
	Timeout time.Duration
	Output  string
	NoColor bool
	Verbose int
}

// Factory gives commands their dependencies, resolved lazily so that a
// command like `version` touches neither the config file nor the network.
type Factory struct {
	IO     *output.Streams
	Getenv func(string) string
	Global GlobalFlags

	// secrets of the resolved targets, scrubbed from any error printed.
	secrets []string
	// secretEnv names the variables those secrets were read from.
	secretEnv []string
	// ranCommand is set once flags parsed and a command's run began, so
	// errors before that (cobra's own) count as usage errors.
	ranCommand bool
}

// NewFactory returns a factory on the real process environment.
func NewFactory(io *output.Streams) *Factory {
	return &Factory{IO: io, Getenv: os.Getenv}
}

// ConfigPath is the contexts file path.
func (f *Factory) ConfigPath() (string, error) { return config.Path(f.Getenv) }

// Config loads the contexts file and returns it with its path.
func (f *Factory) Config() (*config.File, string, error) {
	path, err := f.ConfigPath()
	if err != nil {
		return nil, "", err
	}
	cfg, err := config.Load(path)
	return cfg, path, err
}

// contextName is the context selected without naming one in arguments:
// -c, else MQCTL_CONTEXT, else the file's current context.
func (f *Factory) contextName(cfg *config.File) string {
	if f.Global.Context != "" {
		return f.Global.Context
	}
	if name := f.Getenv("MQCTL_CONTEXT"); name != "" {
		return name
	}
	return cfg.CurrentContext
}

// Target resolves the context, environment and flags into a target.
func (f *Factory) Target() (broker.Target, error) {
	cfg, _, err := f.Config()
	if err != nil {
		return broker.Target{}, err
	}
	return f.targetIn(cfg)
}

// targetIn is Target with the contexts file already loaded.
func (f *Factory) targetIn(cfg *config.File) (broker.Target, error) {
	t, err := config.Resolve(cfg, config.Overrides{
		Context: f.Global.Context,
		URL:     f.Global.URL,
		Timeout: f.Global.Timeout,
	}, f.Getenv)
	f.remember(t)
	return t, err
}

// remember keeps t's secrets for scrubbing output and for keeping them
// from the programs mqctl starts.
func (f *Factory) remember(t broker.Target) {
	f.secrets = append(f.secrets, t.Secrets()...)
	f.secretEnv = append(f.secretEnv, t.SecretEnv...)
}

// Secrets are the secrets of every target resolved so far, and the names of
// the variables they were read from (a context's password_env, token_env).
func (f *Factory) Secrets() (values, envNames []string) { return f.secrets, f.secretEnv }

// contextTarget resolves the named context for commands that use more than
// one (dlq move --to-context, lag -c a,b), with only its own settings (see
// config.ContextOnly).
func (f *Factory) contextTarget(cfg *config.File, name string) (broker.Target, error) {
	t, err := config.Resolve(cfg, config.Overrides{Context: name, Timeout: f.Global.Timeout}, config.ContextOnly(f.Getenv))
	if err != nil {
		return t, err
	}
	f.remember(t)
	return t, nil
}

// Open connects to the resolved target.
func (f *Factory) Open(ctx context.Context) (broker.Conn, broker.Target, error) {
	t, err := f.Target()
	if err != nil {
		return nil, t, err
	}
	f.Logf(1, "connecting to %s (timeout %s)", t.Redacted(), t.EffectiveTimeout())
	conn, err := broker.Open(ctx, t)
	return conn, t, err
}

// OpenContext connects to the named context, for commands that use a
// second one (dlq move --to-context), with only its own settings (see
// contextTarget).
func (f *Factory) OpenContext(ctx context.Context, name string) (broker.Conn, broker.Target, error) {
	cfg, _, err := f.Config()
	if err != nil {
		return nil, broker.Target{}, err
	}
	t, err := f.contextTarget(cfg, name)
	if err != nil {
		return nil, t, err
	}
	f.Logf(1, "connecting to context %s at %s (timeout %s)", name, t.Redacted(), t.EffectiveTimeout())
	conn, err := broker.Open(ctx, t)
	return conn, t, err
}

// Format parses -o.
func (f *Factory) Format() (output.Format, error) { return output.ParseFormat(f.Global.Output) }

// Logf writes a diagnostic line to stderr when -v is at least level.
func (f *Factory) Logf(level int, format string, args ...any) {
	if f.Global.Verbose >= level {
		msg := broker.ScrubString(fmt.Sprintf(format, args...), f.secrets...)
		output.ErrLine(f.IO.Err, "", msg)
	}
}

// Warnf always writes a warning line to stderr.
func (f *Factory) Warnf(format string, args ...any) {
	msg := broker.ScrubString(fmt.Sprintf(format, args...), f.secrets...)
	output.ErrLine(f.IO.Err, "warning: ", msg)
}

// requireWritable refuses a command that changes the broker on a read-only context.
func requireWritable(t broker.Target, what string) error {
	if t.ReadOnly {
		return mqerr.Usagef("context %q is read-only: %s refused", t.Context, what)
	}
	return nil
}

// lagTargets resolves one target, the comma-separated -c list, or every
// context of the file, reading the file once. Listed contexts use only
// their own settings, as dlq move --to-context does: MQCTL_USERNAME and
// MQCTL_PASSWORD would otherwise go to every broker listed. A listed
// context that does not resolve is a failure of its own (see source.Source),
// not the end of the others.
func lagTargets(f *Factory, all bool) (targets []broker.Target, unresolved []lag.Failure, multi bool, err error) {
	cfg, _, err := f.Config()
	if err != nil {
		return nil, nil, false, err
	}
	var names []string
	switch {
	case all:
		for _, c := range cfg.Contexts {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			return nil, nil, true, mqerr.Usagef("--all-contexts: no contexts in the config file (see 'mqctl context add')")
		}
	case strings.Contains(f.Global.Context, ","):
		names = strings.Split(f.Global.Context, ",")
	default:
		t, err := f.targetIn(cfg)
		if err != nil {
			return nil, nil, false, err
		}
		return []broker.Target{t}, nil, false, nil
	}
	var firstErr error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, nil, true, mqerr.Usagef("-c %q: an empty context name (contexts are separated by commas)", f.Global.Context)
		}
		t, err := f.contextTarget(cfg, n)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			unresolved = append(unresolved, lag.NewFailure(n, err))
			continue
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil, nil, true, firstErr
	}
	return targets, unresolved, true, nil
}
