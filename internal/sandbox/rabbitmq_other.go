//go:build !linux

package sandbox

import (
	"os"
	"syscall"
)

// rabbitProcAttr: outside Linux the node runs as our user in our process
// group; the sandbox is built and tested on Linux.
func rabbitProcAttr(uid, gid int) *syscall.SysProcAttr { return nil }

// killProcessGroup kills the start script; the Erlang VM may outlive it.
func killProcessGroup(p *os.Process) error { return p.Kill() }
