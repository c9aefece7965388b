package nats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/mqctl/mqctl/internal/broker"
	"github.com/mqctl/mqctl/internal/mqerr"
)

// Reconnection after the first connect: long-running commands (consume,
// replay, top, bench) ride out a broker restart of a few minutes, then
// fail instead of waiting forever. Jitter spreads many clients' retries.
const (
	maxReconnects   = 120
	reconnectWait   = time.Second
	reconnectJitter = time.Second
)

// connectOptions builds the nats.go options for t, except Timeout, which
// Open derives from its deadline. Errors are mqerr.Usage naming the field
// or file at fault.
func connectOptions(t broker.Target, ep *broker.Endpoint) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("mqctl"),
		// The first connect is bounded by Open's deadline and must fail
		// fast; only an established connection reconnects.
		nats.RetryOnFailedConnect(false),
		nats.MaxReconnects(maxReconnects),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, 2*reconnectJitter),
		// nats.go's default prints async errors raw on stderr. The ones that
		// matter (permission violations, lost PubAcks) reach the command
		// through the failing operation, with context; stderr stays clean.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
	auth, err := authOptions(t, ep)
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	if ep.Scheme == "tls" || t.TLS != (broker.TLSOptions{}) {
		cfg, err := tlsConfig(t.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	return opts, nil
}

// authOptions picks the credentials. Target fields win over the URL's user
// info; a URL user without a password is a token (nats://TOKEN@host), as
// nats.go itself reads it.
func authOptions(t broker.Target, ep *broker.Endpoint) ([]nats.Option, error) {
	if t.CredsFile != "" && t.NKeyFile != "" {
		return nil, mqerr.Usagef("nats: set a credentials file or an nkey seed file, not both")
	}
	var opts []nats.Option
	user, pass, token := ep.Username, ep.Password, t.Token
	if t.Username != "" {
		user = t.Username
	}
	if t.Password != "" {
		pass = t.Password
	}
	if ep.HasUser && t.Username == "" && pass == "" {
		if token == "" {
			token = ep.Username
		}
		user = ""
	}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, pass))
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if t.CredsFile != "" {
		if err := checkCreds(t.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(t.CredsFile))
	}
	if t.NKeyFile != "" {
		if err := checkReadable("nkey seed", t.NKeyFile); err != nil {
			return nil, err
		}
		opt, err := nats.NkeyOptionFromSeed(t.NKeyFile)
		if err != nil {
			return nil, mqerr.Usagef("nats nkey seed file %q holds no valid user seed", t.NKeyFile)
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// checkCreds reads a credentials file now: nats.go reads it only during the
// handshake, where a missing or broken file would look like a failed
// connect rather than a usage error.
func checkCreds(path string) error {
	if err := checkReadable("credentials", path); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return mqerr.Usagef("cannot read nats credentials file %q: %v", path, unwrapPath(err))
	}
	_, jwtErr := nkeys.ParseDecoratedJWT(data)
	kp, seedErr := nkeys.ParseDecoratedNKey(data)
	clear(data)
	if jwtErr != nil || seedErr != nil {
		return mqerr.Usagef("nats credentials file %q holds no valid user JWT and seed", path)
	}
	kp.Wipe()
	return nil
}

func checkReadable(what, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return mqerr.Usagef("cannot read nats %s file %q: %v", what, path, unwrapPath(err))
	}
	return f.Close()
}

// unwrapPath drops the "open PATH:" prefix the caller already prints.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tlsConfig builds a verifying client TLS config from o.
func tlsConfig(o broker.TLSOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: o.ServerName,
		// Only ever the user's explicit choice; verification is the default.
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, mqerr.Usagef("cannot read TLS CA file %q: %v", o.CAFile, unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, mqerr.Usagef("TLS CA file %q holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, mqerr.Usagef("TLS client certificate needs both a cert file and a key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, mqerr.Usagef("cannot load TLS client certificate %q / key %q: %v", o.CertFile, o.KeyFile, unwrapPath(err))
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
