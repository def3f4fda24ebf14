package image

import (
	"context"
	"fmt"
	"io"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
)

// ToRun makes sure the engine has the image mage runLocal runs, and returns
// its reference. When Where names a user (DOCKERHUB_USERNAME), that is the
// published <repository>:latest, pulled with auth as run_docker.sh always
// did; without one, it is the image of the work tree at Dir, built (see
// Build). out shows the pull's progress or the build's one line; nil
// shows nothing.
func (b *Builder) ToRun(ctx context.Context, auth docker.Auth, out io.Writer) (string, error) {
	if out == nil {
		out = io.Discard
	}
	if b.Where.User != "" {
		ref := docker.Ref(b.Where.Repository(), "latest")
		if err := b.Engine.Pull(ctx, ref, auth, out); err != nil {
			return "", ExplainPull(err)
		}
		return ref, nil
	}
	info, err := gitinfo.Read(ctx, b.Runner, b.Dir)
	if err != nil {
		return "", err
	}
	built, err := b.Build(ctx, info)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(out, built)
	return built.Names.Commit, nil
}
