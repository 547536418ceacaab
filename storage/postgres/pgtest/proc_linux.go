package pgtest

import (
	"os/exec"
	"syscall"
)

// serverProcAttr ties the server's life to this process: if the test binary
// dies without stopping it, the kernel sends the server an immediate
// shutdown, and it gets its own process group so a terminal's ^C reaches
// it only through Stop.
func serverProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr.Setpgid = true
}
