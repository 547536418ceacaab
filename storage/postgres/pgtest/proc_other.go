//go:build !linux

package pgtest

import "os/exec"

// serverProcAttr has nothing to add where the parent-death signal does not exist.
func serverProcAttr(cmd *exec.Cmd) {}
