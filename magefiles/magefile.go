//go:build mage

// OC Lettings pipeline. Details of a target: go tool mage -h <target>.
// Live output of the tools a target runs: go tool mage -v <target>.
package main

//mage:multiline keeps the line breaks of the doc comments in mage -l and -h.

import (
	"context"
	"os"
	"path/filepath"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// binDir holds binaries the targets compile; it is ignored by git.
const binDir = "bin"

// load reads and checks the settings target reads: the one place the
// targets read the environment.
func load(target string) (settings.Values, error) { return settings.Load(settings.OS, target) }

// newRunner returns the process runner the targets share: quiet unless
// mage -v, and masking every secret the environment holds.
func newRunner() *runner.Runner {
	return &runner.Runner{
		Verbose:  mg.Verbose(),
		Out:      os.Stdout,
		Redactor: redact.New(settings.Secrets(settings.OS)...),
	}
}

// buildSite compiles the site for this machine into bin/, stamped with the
// work tree's version and commit ("dev" outside a git checkout), and returns
// the binary's path and the version.
func buildSite(ctx context.Context, r *runner.Runner) (bin, version string, err error) {
	info, err := gitinfo.Read(ctx, r, "")
	if err != nil {
		info = gitinfo.Info{Version: "dev", Commit: "unknown"} // a source tarball: build anyway
	}
	bin = filepath.Join(binDir, "oc-lettings")
	err = gobuild.Build(ctx, r, gobuild.Options{Output: bin, Version: info.Version, Commit: info.Commit})
	return bin, info.Version, err
}
