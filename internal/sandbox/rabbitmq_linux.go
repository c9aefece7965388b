package sandbox

import (
	"os"
	"syscall"
)

// rabbitProcAttr puts the node in its own process group, so a Ctrl-C in a
// terminal reaches us and not the node directly, and sends it SIGTERM (a
// clean shutdown) if we die first. uid -1 keeps our user.
func rabbitProcAttr(uid, gid int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if uid >= 0 {
		a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return a
}

// killProcessGroup kills the start script and the Erlang VM it started.
func killProcessGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}
