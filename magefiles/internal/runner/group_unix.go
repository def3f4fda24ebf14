//go:build unix

package runner

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the child in a process group of its own, and makes
// cancellation signal that whole group: first SIGTERM, then, after the
// command's WaitDelay, SIGKILL from os/exec.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
}

// killGroup kills whatever is left of the child's process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
