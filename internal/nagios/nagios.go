// Package nagios is the one status type of every --check (lag, dlq ls,
// dlq stats): its value is the Nagios plugin exit code and its String the
// word that starts the status line.
package nagios

import "strings"

// Status is a Nagios plugin result; its int value is the exit code.
type Status int

// The four Nagios results, in exit-code order.
const (
	OK       Status = 0
	Warning  Status = 1
	Critical Status = 2
	Unknown  Status = 3
)

// String is the word a status line starts with: OK, WARN, CRIT or UNKNOWN.
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARN"
	case Critical:
		return "CRIT"
	}
	return "UNKNOWN"
}

// Code is the process exit code Nagios reads.
func (s Status) Code() int { return int(s) }

// Degrade turns an OK result into UNKNOWN (the line's leading "OK " becomes
// "UNKNOWN "): used when part of what was to be checked did not answer,
// which must never read as OK. Other results are returned unchanged.
func Degrade(s Status, line string) (Status, string) {
	if s != OK {
		return s, line
	}
	return Unknown, Unknown.String() + " " + strings.TrimPrefix(line, OK.String()+" ")
}
