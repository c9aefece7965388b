package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// TransportReason is the one short text every driver gives for a failure
// of the transport, so the same failure reads the same on every broker:
// "connection refused" rather than "dial tcp 127.0.0.1:1: connect:
// connection refused", "timed out" for a deadline (ctx's, the socket's or
// the client library's), "the server closed the connection" for an EOF,
// the DNS error with its name, the certificate error itself. Anything else
// keeps its own text. ctx may be nil.
func TransportReason(ctx context.Context, err error) string {
	var (
		errno syscall.Errno
		dns   *net.DNSError
		cve   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &cve):
		return cve.Err.Error()
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dns):
		return dns.Err + " (" + dns.Name + ")"
	case errors.Is(err, context.DeadlineExceeded), PastDeadline(ctx), IsTimeout(err):
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// IsTimeout reports a timeout of the transport.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsTransportError reports a failure of the transport, not a refusal by
// the broker: nothing listening, a reset, a name that does not resolve, a
// peer that hung up mid-handshake.
func IsTransportError(err error) bool {
	var (
		op  *net.OpError
		dns *net.DNSError
	)
	return errors.As(err, &op) || errors.As(err, &dns) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// PastDeadline reports whether ctx has ended or its deadline has passed:
// a connection's deadline, set to the same instant, may fire before ctx's
// own timer does.
func PastDeadline(ctx context.Context) bool {
	if ctx == nil {
		return false
	}
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(d))
}
