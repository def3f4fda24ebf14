//go:build !unix

package runner

import "os/exec"

// setProcessGroup keeps os/exec's default on systems without process
// groups: the child is killed when the context ends.
func setProcessGroup(*exec.Cmd) (killGroup func()) { return func() {} }
