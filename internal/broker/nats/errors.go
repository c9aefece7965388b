package nats

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// classify turns a connect error into a typed one-line error naming the
// hosts; it never includes credentials since they are not in the URLs.
func classify(err error, hosts string, budget time.Duration) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("connect to nats at %s: %w", hosts, err)
	case isAuthError(err):
		return mqerr.New(mqerr.Auth, "nats at %s refused the credentials: %s", hosts, strings.ToLower(reason(err)))
	case isVerifyError(err):
		return mqerr.New(mqerr.Failure, "TLS verification of nats at %s failed: %s (%s)", hosts, reason(err), verifyHint(err))
	case errors.Is(err, nats.ErrSecureConnWanted):
		return mqerr.New(mqerr.Failure, "nats at %s does not offer TLS, which the URL or TLS options ask for", hosts)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), broker.IsTimeout(err):
		return unreachable(hosts, budget, "timed out")
	case errors.Is(err, nats.ErrNoServers):
		// nats.go reports a refused dial as "no servers available".
		return unreachable(hosts, budget, "connection refused")
	case broker.IsTransportError(err):
		return unreachable(hosts, budget, reason(err))
	case errors.Is(err, nats.ErrTLS):
		return mqerr.New(mqerr.Failure, "TLS handshake with nats at %s failed: %s", hosts, reason(err))
	}
	return mqerr.New(mqerr.Failure, "connect to nats at %s: %s", hosts, reason(err))
}

func unreachable(hosts string, budget time.Duration, why string) error {
	return mqerr.New(mqerr.Unreachable, "cannot reach nats at %s within %s: %s", hosts, roundBudget(budget), why)
}

// roundBudget keeps "within 2s" readable although the deadline's remaining
// time is a few microseconds short of what the user asked for.
func roundBudget(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// authErrors are what nats.go makes of the server's -ERR replies about
// credentials.
var authErrors = []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired}

func isAuthError(err error) bool {
	for _, e := range authErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	// Some paths carry the server's text rather than the sentinel.
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication expired")
}

// isVerifyError reports a server certificate that did not verify, as
// opposed to a handshake that failed for other reasons.
func isVerifyError(err error) bool {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// verifyHint says what to change for the usual causes of a failed
// verification: a private CA, or a host name the certificate is not for.
func verifyHint(err error) string {
	var he x509.HostnameError
	if errors.As(err, &he) {
		return "set the TLS server name to one the certificate is for"
	}
	return "give the CA file that signed the server's certificate"
}

// reason is the innermost useful text of err, worded as on every broker
// (broker.TransportReason), without nats.go's "nats: " prefix.
func reason(err error) string {
	return strings.TrimPrefix(broker.TransportReason(context.Background(), err), "nats: ")
}
