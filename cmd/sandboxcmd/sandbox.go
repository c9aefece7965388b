// Package sandboxcmd is the `mqctl sandbox` command. It lives in the
// mqctl-sandbox binary, apart from mqctl, because the embedded brokers
// (kfake, nats-server) would otherwise cost every mqctl invocation about
// 3.5 ms of start-up and 13 MB of binary; `mqctl sandbox` execs it.
package sandboxcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqctl/mqctl/cmd"
	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/config"
	"github.com/mqctl/mqctl/internal/mqerr"
	"github.com/mqctl/mqctl/internal/sandbox"
)

type sandboxOptions struct {
	sandbox.Options
	demo       bool
	noContexts bool
}

// NewCmd builds the sandbox command on mqctl's factory.
func NewCmd(f *cmd.Factory) *cobra.Command {
	o := &sandboxOptions{}
	c := &cobra.Command{
		Use:   "mqctl-sandbox",
		Short: "Run real Kafka, NATS (JetStream) and RabbitMQ brokers on this machine",
		Long: `Run brokers in the foreground until Ctrl-C: Kafka (franz-go's kfake) and NATS with
JetStream embedded in this process, and RabbitMQ as an isolated rabbitmq-server child
(own node name, ports and data dir) when it is installed.

Prints one line per broker on stdout ("kafka kafka://127.0.0.1:9092", ...) and registers
the contexts sandbox-kafka, sandbox-nats and sandbox-rabbitmq. Port 0 picks a free port;
a default port that is taken falls back to a free one (the printed URLs and the contexts
carry the port chosen), while a port given with its flag must be free.
Ctrl-C, SIGTERM or SIGHUP stops the brokers, removes the contexts it wrote (each only if
unchanged since) and removes their temporary data; a second
signal skips RabbitMQ's graceful stop but still removes everything.
--demo seeds topics, queues and streams, a steady trickle of messages, a lagging
consumer group and dead letters on every broker.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.Fallback = sandbox.PortFallback{
				Kafka:   !c.Flags().Changed("kafka-port"),
				NATS:    !c.Flags().Changed("nats-port"),
				AMQP:    !c.Flags().Changed("amqp-port"),
				AMQPAPI: !c.Flags().Changed("amqp-api-port"),
			}
			return sandboxRun(c.Context(), f, o)
		},
	}
	fl := c.Flags()
	fl.IntVar(&o.KafkaPort, "kafka-port", 9092, "Kafka port (0 picks a free one)")
	fl.IntVar(&o.NATSPort, "nats-port", 4222, "NATS port (0 picks a free one)")
	fl.IntVar(&o.AMQPPort, "amqp-port", 5672, "RabbitMQ AMQP port (0 picks a free one)")
	fl.IntVar(&o.AMQPAPIPort, "amqp-api-port", 15672, "RabbitMQ management API port (0 picks a free one)")
	fl.StringVar(&o.DataDir, "data-dir", "", "keep broker state here so it survives a restart (default: temporary)")
	fl.BoolVar(&o.NoRabbitMQ, "no-rabbitmq", false, "do not start RabbitMQ")
	fl.BoolVar(&o.NoKafka, "no-kafka", false, "do not start Kafka")
	fl.BoolVar(&o.NoNATS, "no-nats", false, "do not start NATS")
	fl.BoolVar(&o.demo, "demo", false, "seed demo topics, queues, streams, lag and dead letters")
	fl.BoolVar(&o.noContexts, "no-contexts", false, "do not register the sandbox-* contexts")
	return c
}

func sandboxRun(ctx context.Context, f *cmd.Factory, o *sandboxOptions) error {
	ctx, hurry := stopSignals(ctx, f.IO.Err)
	o.Log = f.IO.Err
	fmt.Fprintln(f.IO.Err, "sandbox: starting brokers ...")
	sb, err := sandbox.Start(ctx, o.Options)
	if err != nil {
		if ctx.Err() != nil {
			return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted while starting the brokers"))
		}
		return err
	}
	defer func() {
		fmt.Fprintln(f.IO.Err, "sandbox: stopping ...")
		stopCtx, cancel := context.WithTimeout(hurry, 30*time.Second)
		defer cancel()
		if err := sb.Stop(stopCtx); err != nil {
			f.Warnf("sandbox stop: %v", err)
		}
	}()

	if sb.RabbitMQ != nil {
		fmt.Fprintf(f.IO.Err, "sandbox: rabbitmq node %s\n", sb.RabbitMQ.NodeName)
	}
	contexts := sandboxContexts(sb)
	for _, c := range contexts {
		line := c.Name[len("sandbox-"):] + " " + c.URL
		if c.ManagementURL != "" {
			line += " api=" + c.ManagementURL
		}
		fmt.Fprintln(f.IO.Out, line)
	}
	if !o.noContexts {
		if err := registerContexts(f, contexts); err != nil {
			return err
		}
		// Deferred after the brokers' stop, so it runs first: the
		// contexts go before the ports they name close.
		defer unregisterContexts(f, contexts)
	}
	if o.demo {
		fmt.Fprintln(f.IO.Err, "sandbox: seeding demo data ...")
		wait, err := sb.Demo(ctx, f.IO.Err)
		if err != nil {
			if ctx.Err() != nil {
				return mqerr.Wrap(mqerr.Interrupted, fmt.Errorf("interrupted while seeding the demo data"))
			}
			return err
		}
		defer wait()
	}
	fmt.Fprintln(f.IO.Err, "sandbox: ready; Ctrl-C stops")
	<-ctx.Done()
	return nil
}

// stopSignals makes the sandbox clean up whichever way it is asked to stop.
// The first SIGINT, SIGTERM or SIGHUP (the terminal closing) ends the
// returned context: the brokers stop gracefully. A further signal, a
// second or more later, ends hurry: RabbitMQ is killed instead of waited
// for, and the temporary directories are still removed. (Signals within
// that second are copies of the first: timeout(1) and process managers
// send one signal to the process and to its group.) Signals stay caught
// until the process exits, because a signal that killed it midway through
// the stop would leave the node's files behind. A closed stdout or stderr
// (`mqctl sandbox | head -1`) is no reason to die either: caught, not
// ignored, SIGPIPE turns into write errors here and stays at its default
// for the RabbitMQ node.
func stopSignals(parent context.Context, log io.Writer) (ctx, hurry context.Context) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := context.WithCancel(parent)
	hurry, rush := context.WithCancel(context.Background())
	// parent ends with the first SIGINT or SIGTERM too (cmd.MainWith), and
	// ctx with it; counting signals here keeps that one from counting twice.
	go func() {
		<-sigs
		first := time.Now()
		stop()
		for range sigs {
			if time.Since(first) >= time.Second {
				break
			}
		}
		fmt.Fprintln(log, "sandbox: signalled again: killing RabbitMQ instead of waiting for its graceful stop")
		rush()
	}()
	return ctx, hurry
}

// sandboxContexts describes the running brokers as contexts. RabbitMQ's
// guest password goes in the context, not the printed URL.
func sandboxContexts(sb *sandbox.Sandbox) []config.Context {
	var out []config.Context
	if sb.Kafka != nil {
		out = append(out, config.Context{Name: "sandbox-kafka", URL: sb.Kafka.URL})
	}
	if sb.NATS != nil {
		out = append(out, config.Context{Name: "sandbox-nats", URL: sb.NATS.URL})
	}
	if sb.RabbitMQ != nil {
		out = append(out, config.Context{
			Name: "sandbox-rabbitmq", URL: withoutUserInfo(sb.RabbitMQ.AMQPURL),
			Username: "guest", Password: "guest", ManagementURL: sb.RabbitMQ.APIURL,
		})
	}
	return out
}

func registerContexts(f *cmd.Factory, contexts []config.Context) error {
	cfg, path, err := f.Config()
	if err != nil {
		return err
	}
	for _, c := range contexts {
		cfg.Put(c)
	}
	if _, ok := cfg.Get(cfg.CurrentContext); !ok && len(contexts) > 0 {
		cfg.CurrentContext = contexts[0].Name
	}
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Err, "sandbox: contexts registered in %s\n", path)
	return nil
}

// unregisterContexts removes the contexts registerContexts wrote, each only
// if it is still what was written: one changed since (edited, or written
// by another sandbox that runs now) is someone else's and stays. It runs
// on every stop that reaches it (Ctrl-C, SIGTERM, SIGHUP, an error after
// the registration); a sandbox killed outright leaves them, and the next
// one replaces them.
func unregisterContexts(f *cmd.Factory, written []config.Context) {
	cfg, path, err := f.Config()
	if err != nil {
		f.Warnf("sandbox contexts not removed: %v", err)
		return
	}
	var removed, kept []string
	for _, w := range written {
		c, ok := cfg.Get(w.Name)
		switch {
		case !ok:
		case reflect.DeepEqual(*c, w):
			_ = cfg.Remove(w.Name) // there: Get found it
			removed = append(removed, w.Name)
		default:
			kept = append(kept, w.Name)
		}
	}
	if len(removed) > 0 {
		if err := cfg.Save(path); err != nil {
			f.Warnf("sandbox contexts %s not removed: %v", strings.Join(removed, ", "), err)
			return
		}
		fmt.Fprintf(f.IO.Err, "sandbox: contexts %s removed from %s\n", strings.Join(removed, ", "), path)
	}
	if len(kept) > 0 {
		fmt.Fprintf(f.IO.Err, "sandbox: contexts %s kept: changed since the sandbox wrote them\n", strings.Join(kept, ", "))
	}
}

// withoutUserInfo drops user:password@ from a URL, for printing.
func withoutUserInfo(url string) string {
	ep, err := broker.ParseEndpoint(url)
	if err != nil {
		return broker.RedactURL(url)
	}
	return ep.Scheme + "://" + strings.Join(ep.Hosts, ",") + "/" + ep.Path
}
