package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// probe is a kgo hook that remembers why the latest connection attempt
// failed. kgo retries failed dials and requests until the context ends, and
// the error it then returns is only the deadline; the probe keeps the cause.
type probe struct {
	mu sync.Mutex
	// connErr is the error of the latest connection attempt, nil once one
	// succeeds (dial, TLS handshake, ApiVersions and SASL).
	connErr error
	// saslErr is set when a connection broke during SASL authentication.
	// Some brokers (kfake among them) answer a wrong password by closing
	// the connection rather than with SASL_AUTHENTICATION_FAILED.
	saslErr error
	// abort is Open's cancel: a login that failed once fails again, so
	// Open need not wait for kgo's retries to run out the timeout. Once
	// Open has returned, calling it does nothing.
	abort context.CancelFunc
}

var (
	_ kgo.HookBrokerConnect = (*probe)(nil)
	_ kgo.HookBrokerE2E     = (*probe)(nil)
)

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (p *probe) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connErr = err
}

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (p *probe) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != int16(kmsg.SASLHandshake) && key != int16(kmsg.SASLAuthenticate) {
		return
	}
	// A login that timed out, or that the dialer cut because its
	// request's context ended (Ctrl-C, --timeout), was not refused.
	if err := e.Err(); errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || broker.IsTimeout(err) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saslErr = e.Err()
	if p.saslErr != nil && p.abort != nil {
		p.abort()
	}
}

func (p *probe) errs() (conn, sasl error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connErr, p.saslErr
}

// classify turns a franz-go error into one typed line naming the seed
// brokers. within is the time the caller allowed, 0 when unbounded.
func (c *Conn) classify(err error, within time.Duration) error {
	hosts := hostList(c.seeds)
	connErr, saslErr := c.probe.errs()
	// A request that failed to connect or ran out of time says only that;
	// the last connection failure says why (a TLS or SASL problem, say).
	causes := []error{err}
	if unreachable(err) && connErr != nil {
		causes = append(causes, connErr)
	}

	var out error
	switch {
	case anyIs(causes, saslRejected):
		out = mqerr.New(mqerr.Auth, "kafka at %s rejected the %s: %v", hosts, c.loginOr("SASL login"), firstOf(causes, saslRejected))
	case c.login != "" && saslErr != nil:
		out = mqerr.New(mqerr.Auth, "kafka at %s rejected the %s: the broker closed the connection during authentication (wrong username or password?)", hosts, c.login)
	case anyIs(causes, denied):
		out = mqerr.New(mqerr.Auth, "kafka at %s denied permission: %v", hosts, firstOf(causes, denied))
	case anyIs(causes, badCertificate):
		out = mqerr.New(mqerr.Failure, "TLS certificate verification failed for kafka at %s: %v (set a CA file that signs the broker's certificate, or check the server name)", hosts, firstOf(causes, badCertificate))
	case anyIs(causes, certRefused):
		out = mqerr.New(mqerr.Auth, "kafka at %s refused the TLS client certificate: %v", hosts, firstOf(causes, certRefused))
	case errors.Is(err, context.Canceled):
		out = mqerr.New(mqerr.Interrupted, "kafka at %s: interrupted", hosts)
	case anyIs(causes, func(e error) bool { return otherProtocol(e) != "" }):
		out = mqerr.New(mqerr.Unreachable, "kafka at %s: %s", hosts, otherProtocol(firstOf(causes, func(e error) bool { return otherProtocol(e) != "" })))
	case unreachable(err):
		why := reason(causes[len(causes)-1])
		if within > 0 {
			out = mqerr.New(mqerr.Unreachable, "cannot reach kafka at %s within %s: %s", hosts, within, why)
		} else {
			out = mqerr.New(mqerr.Unreachable, "cannot reach kafka at %s: %s", hosts, why)
		}
	default:
		out = mqerr.New(mqerr.Failure, "kafka at %s: %v", hosts, err)
	}
	// The broker's own messages are quoted above; make sure none of them
	// echoes a secret.
	return broker.Scrub(out, c.secrets...)
}

func (c *Conn) loginOr(def string) string {
	if c.login != "" {
		return c.login
	}
	return def
}

func anyIs(errs []error, match func(error) bool) bool { return firstOf(errs, match) != nil }

func firstOf(errs []error, match func(error) bool) error {
	for _, err := range errs {
		if err != nil && match(err) {
			return err
		}
	}
	return nil
}

func saslRejected(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism)
}

func denied(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// badCertificate reports a server certificate this client does not trust.
func badCertificate(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) ||
		errors.As(err, &hostname) || errors.As(err, &invalid)
}

// certRefused reports a TLS alert by which the broker refuses this client's
// certificate (or the lack of one): that is an authentication failure.
// crypto/tls reports a received alert as a "remote error" whose value is of
// an unexported type with the same text as the exported AlertError.
func certRefused(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	for _, a := range []tls.AlertError{
		42,  // bad_certificate
		43,  // unsupported_certificate
		44,  // certificate_revoked
		45,  // certificate_expired
		46,  // certificate_unknown
		48,  // unknown_ca
		49,  // access_denied
		116, // certificate_required
	} {
		if op.Err.Error() == a.Error() {
			return true
		}
	}
	return false
}

// unreachable reports a failure to reach the cluster at all. An EOF is not
// one here: a broker that hangs up on a handshake (SASL, TLS) is reached.
func unreachable(err error) bool {
	var (
		op  *net.OpError
		dns *net.DNSError
	)
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &op) || errors.As(err, &dns)
}

// reason is the short cause of a failed connection, worded as on every
// broker (broker.TransportReason).
func reason(err error) string { return broker.TransportReason(context.Background(), err) }

func hostList(seeds []string) string { return strings.Join(seeds, ",") }

// errorf formats a Failure about the cluster, for errors found in answers
// rather than returned by franz-go.
func (c *Conn) errorf(format string, args ...any) error {
	return mqerr.New(mqerr.Failure, "kafka at %s: %s", hostList(c.seeds), fmt.Sprintf(format, args...))
}

// otherProtocol says which protocol answered where Kafka was expected,
// "" when it cannot tell. franz-go reads the first four bytes a server
// sends as a response size and reports one too large with its value:
// "AMQP" and "INFO" are how RabbitMQ and NATS greet a client.
func otherProtocol(err error) string {
	_, after, ok := strings.Cut(err.Error(), "invalid large response size ")
	if !ok {
		return ""
	}
	digits, _, _ := strings.Cut(after, " ")
	n, perr := strconv.ParseInt(digits, 10, 32)
	if perr != nil {
		return ""
	}
	b := []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	what := map[string]string{"AMQP": "RabbitMQ (AMQP)", "INFO": "NATS", "HTTP": "HTTP"}[string(b)]
	if what == "" {
		return fmt.Sprintf("the server answered %q, which is not Kafka: is the port right?", b)
	}
	return fmt.Sprintf("the server answered %q, which is %s, not Kafka: is the port right?", b, what)
}
