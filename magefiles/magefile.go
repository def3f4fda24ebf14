//go:build mage

// OC Lettings pipeline. Details of a target: go tool mage -h <target>. Live output of the tools a target runs: go tool mage -v <target>.
package main

import (
	"os"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// binDir holds binaries the targets compile; it is ignored by git.
const binDir = "bin"

// newRunner returns the process runner the targets share: quiet unless
// mage -v, and masking every secret the environment holds.
func newRunner() *runner.Runner {
	return &runner.Runner{
		Verbose:  mg.Verbose(),
		Out:      os.Stdout,
		Redactor: redact.New(settings.Secrets(settings.OS)...),
	}
}
