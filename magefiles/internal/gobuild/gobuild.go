// Package gobuild compiles the site's binary with its version and commit
// stamped in, for the host (mage run, mage bench) or as a static Linux
// binary for the container image (mage build).
package gobuild

import (
	"context"
	"fmt"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// MainPackage is the site's main package, relative to the repository root.
const MainPackage = "./app"

// Options say what to build.
type Options struct {
	Output  string // path of the binary to write
	Version string // stamped into buildinfo.Version
	Commit  string // stamped into buildinfo.Commit
	GOOS    string // target OS; empty means the host's
	GOARCH  string // target architecture; empty means the host's
	Static  bool   // no cgo: a self-contained binary for a scratch image
	Dir     string // repository root; empty means the current directory
}

// Command returns the go build command for o. The build is reproducible:
// -trimpath and no VCS stamping, so an unchanged commit gives the same bytes.
func Command(o Options) runner.Cmd {
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s",
		buildinfo.Path, o.Version, buildinfo.Path, o.Commit)
	c := runner.Cmd{
		Name: "go",
		Args: []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", o.Output, MainPackage},
		Dir:  o.Dir,
	}
	if o.Static {
		c.Env = append(c.Env, "CGO_ENABLED=0")
	}
	if o.GOOS != "" {
		c.Env = append(c.Env, "GOOS="+o.GOOS)
	}
	if o.GOARCH != "" {
		c.Env = append(c.Env, "GOARCH="+o.GOARCH)
	}
	return c
}

// Build compiles the binary described by o.
func Build(ctx context.Context, r *runner.Runner, o Options) error {
	if err := r.Run(ctx, Command(o)); err != nil {
		return fmt.Errorf("compiling the site: %w", err)
	}
	return nil
}
