package broker

import (
	"strings"
	"time"
)

// Target is everything a driver needs to connect: the resolved result of a
// context, environment variables and flags (see internal/config).
type Target struct {
	// Context is the name of the context this target came from, "" for a bare --url.
	Context string
	// URL selects the driver by scheme. It may carry user:password; Redacted hides it.
	URL string

	Username string
	Password string
	// Token is a NATS token.
	Token string
	// CredsFile and NKeyFile are NATS credentials files.
	CredsFile string
	NKeyFile  string

	TLS TLSOptions
	// SASL is the Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASL string
	// ManagementURL overrides the RabbitMQ management API URL derived from URL.
	ManagementURL string
	// Heartbeat is the AMQP heartbeat interval; 0 keeps the library default.
	Heartbeat time.Duration
	// Timeout bounds connecting and each request-response round trip.
	Timeout time.Duration
	// ReadOnly refuses commands that change the broker.
	ReadOnly bool
	// SecretEnv names the environment variables a secret was read from
	// (a context's password_env, token_env), so that programs mqctl starts
	// (consume --exec) do not inherit them.
	SecretEnv []string
}

// TLSOptions configures TLS for every driver. TLS verifies by default.
type TLSOptions struct {
	Enabled            bool   `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	CAFile             string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty" json:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

// DefaultTimeout bounds connecting when neither flag nor context sets one.
const DefaultTimeout = 10 * time.Second

// Scheme is the URL's scheme in lower case, "" when there is none.
func (t Target) Scheme() string {
	i := strings.Index(t.URL, "://")
	if i <= 0 {
		return ""
	}
	return strings.ToLower(t.URL[:i])
}

// Redacted is the URL with any password replaced, safe to print.
func (t Target) Redacted() string { return RedactURL(t.URL) }

// Secrets lists every secret value of the target, so output and errors can
// be scrubbed of them as a last line of defence.
func (t Target) Secrets() []string {
	var s []string
	for _, v := range []string{t.Password, t.Token} {
		if v != "" {
			s = append(s, v)
		}
	}
	if ep, err := ParseEndpoint(t.URL); err == nil {
		if _, pass, token := ep.Credentials(); pass != "" {
			s = append(s, pass)
		} else if token != "" {
			s = append(s, token)
		}
	}
	if pass := urlPassword(t.ManagementURL); pass != "" {
		s = append(s, pass)
	}
	return s
}

// urlPassword is the password in a URL's user info, "" when none.
func urlPassword(raw string) string {
	if raw == "" {
		return ""
	}
	ep, err := ParseEndpoint(raw)
	if err != nil {
		return ""
	}
	return ep.Password
}

// EffectiveTimeout is Timeout, or DefaultTimeout when unset.
func (t Target) EffectiveTimeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return DefaultTimeout
}
