package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// defaultPort is Kafka's plaintext listener port, used for hosts without one.
const defaultPort = "9092"

// tlsConfig builds the client TLS configuration, or nil when TLS is off.
// Naming a CA, certificate or key turns TLS on: nobody sets those by
// accident, and silently dialing plaintext instead would be worse.
func tlsConfig(o broker.TLSOptions) (*tls.Config, error) {
	if !o.Enabled && o.CAFile == "" && o.CertFile == "" && o.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // only on explicit request
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, mqerr.Usagef("cannot read TLS CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, mqerr.Usagef("TLS CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, mqerr.Usagef("a TLS client certificate needs both a cert file and a key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, mqerr.Usagef("cannot load TLS client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// saslMechanism returns the SASL mechanism t asks for and the user it logs
// in as, or nil when t asks for none. Credentials come from the target, else
// from the URL's user info.
func saslMechanism(t broker.Target, ep *broker.Endpoint) (sasl.Mechanism, string, error) {
	name := strings.ToUpper(strings.TrimSpace(t.SASL))
	if name == "" {
		// Credentials that would be silently dropped are a mistake the user
		// should hear about, not a mystery "is SASL missing?" later.
		if t.Username != "" || t.Password != "" || ep.HasUser {
			return nil, "", mqerr.Usagef("kafka credentials given but no SASL mechanism: set --sasl PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 on the context")
		}
		return nil, "", nil
	}
	user, pass := t.Username, t.Password
	if user == "" {
		user = ep.Username
	}
	if pass == "" {
		pass = ep.Password
	}
	switch name {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return nil, "", mqerr.Usagef("unknown SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", t.SASL)
	}
	if user == "" {
		return nil, "", mqerr.Usagef("SASL %s needs a username: set it in the context, MQCTL_USERNAME or the URL", name)
	}
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), user, nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), user, nil
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), user, nil
	}
}
