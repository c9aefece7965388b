package broker

import (
	"context"
	"strconv"
	"strings"
)

// Status is the verdict of one doctor check.
type Status string

const (
	// StatusOK: what the check looks at works.
	StatusOK Status = "OK"
	// StatusWarn: it works with a limit worth knowing (a permission
	// narrowed to some names, TLS not verified, an optional plugin off).
	StatusWarn Status = "WARN"
	// StatusFail: something a command needs is missing; doctor exits 1.
	StatusFail Status = "FAIL"
	// StatusUnknown: the broker does not let this client find out
	// (RabbitMQ permissions are visible to administrators only).
	StatusUnknown Status = "UNKNOWN"
)

// The names of doctor's checks, in the order they are shown. Drivers
// answer the ones that mean something on their broker.
const (
	CheckConnect    = "connect"
	CheckTLS        = "tls"
	CheckAuth       = "auth"
	CheckVersion    = "version"
	CheckManagement = "management"
	CheckJetStream  = "jetstream"
	// The permissions of the commands: read (consume, peek, ls), produce,
	// dlq (replay and purge), lag (lag, top, serve).
	CheckRead    = "read"
	CheckProduce = "produce"
	CheckDLQ     = "dlq"
	CheckLag     = "lag"
)

// Diagnosis is the result of one check.
type Diagnosis struct {
	Check  string `json:"check" yaml:"check"`
	Status Status `json:"status" yaml:"status"`
	Detail string `json:"detail,omitempty" yaml:"detail,omitempty"`
	// User is the user name that Detail names where it holds UserMark.
	User string `json:"-" yaml:"-"`
}

// UserMark stands in a Diagnosis's Detail for its User, the user field
// of the login. ScrubbedDetail puts the name in after scrubbing the rest:
// a user whose password is its own name (guest:guest) is still shown as
// the user, while every other occurrence of that string is scrubbed.
const UserMark = "\x00user\x00"

// ScrubbedDetail is d's Detail with every secret scrubbed (ScrubString)
// and d's User, quoted, where Detail holds UserMark. The text around the
// marks is scrubbed piece by piece, so no secret can reach into a mark.
func (d Diagnosis) ScrubbedDetail(secrets ...string) string {
	parts := strings.Split(d.Detail, UserMark)
	for i, p := range parts {
		parts[i] = ScrubString(p, secrets...)
	}
	return strings.Join(parts, strconv.Quote(d.User))
}

// Diagnoser is implemented by a connection that can tell what `mqctl
// doctor` asks after connecting: TLS, the broker's version, its plugins
// and the permissions each command needs. Every check is read-only (no
// destination is created, nothing is published or consumed) and the
// whole call returns when ctx ends, with the checks it could not finish
// reported as StatusUnknown.
type Diagnoser interface {
	Diagnose(ctx context.Context) []Diagnosis
}

// TLSDiagnosis is the tls check of a connection that is open: on and
// verified, on without verification (WARN), or off.
func TLSDiagnosis(on bool, o TLSOptions) Diagnosis {
	d := Diagnosis{Check: CheckTLS, Status: StatusOK}
	switch {
	case !on:
		d.Detail = "off (plaintext)"
	case o.InsecureSkipVerify:
		d.Status, d.Detail = StatusWarn, "on, but the server certificate is not verified (insecure_skip_verify)"
	case o.CertFile != "":
		d.Detail = "on, server certificate verified, client certificate sent"
	default:
		d.Detail = "on, server certificate verified"
	}
	return d
}

// Share is the status of a permission found on allowed of total
// destinations: OK on all, WARN on some, FAIL on none, UNKNOWN when there
// is nothing to judge by.
func Share(allowed, total int) Status {
	switch {
	case total == 0:
		return StatusUnknown
	case allowed == total:
		return StatusOK
	case allowed == 0:
		return StatusFail
	}
	return StatusWarn
}
