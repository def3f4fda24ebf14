//go:build unix

package runner

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the child in a process group of its own, and makes
// cancellation signal that whole group: first SIGTERM, then, after the
// command's WaitDelay, SIGKILL from os/exec. It returns a function that
// kills whatever is left of the group.
func setProcessGroup(cmd *exec.Cmd) (killGroup func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	return func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}
