package siteimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// ErrDirty refuses to publish a work tree with changes that can reach the image.
var ErrDirty = errors.New("the work tree has changes not committed that can reach the image, and mage push publishes only " +
	"committed code: commit them, or set them aside with git stash -u (-u: new files count too), then push again " +
	"(mage build still builds them, tagged <commit>-dirty)")

// Credentials are the registry user and password (or access token) the
// image is pushed and pulled with; empty for anonymous pulls.
type Credentials struct {
	User, Password string
}

func (c Credentials) image(ref string) registry.Image {
	return registry.Image{Ref: ref, User: c.User, Password: c.Password}
}

// PushResult tells what Push did.
type PushResult struct {
	Build  Result
	Pushed []docker.PushResult // one per tag, in the order of Names.Tags
	// Warning says that the registry holds something Heroku would not take
	// as it is (an OCI manifest, several platforms); deploy converts it.
	Warning string
	Took    time.Duration
}

// String is the one line mage push prints at the end.
func (r PushResult) String() string {
	uploaded, layers, digest := 0, 0, ""
	for _, p := range r.Pushed {
		uploaded += p.Uploaded
		layers = max(layers, p.Layers)
		digest = p.Digest // every tag names the same manifest
	}
	return fmt.Sprintf("pushed %s to %s (digest %s; %d of %d layers uploaded) in %s",
		strings.Join(r.Build.Names.Tags(), " and "), registry.Describe(registry.HostOf(r.Build.Names.Commit)),
		digest, uploaded, layers, r.Took.Round(time.Millisecond))
}

// Push pushes the commit tag and the latest tag of a built image with
// creds, showing progress on progress, then reads back what the registry
// stored. The image of a dirty work tree, which has no latest tag, is
// refused (ErrDirty).
func (b *Builder) Push(ctx context.Context, built Result, creds Credentials, progress io.Writer) (PushResult, error) {
	if built.Names.Latest == "" {
		return PushResult{}, ErrDirty
	}
	start := time.Now()
	res := PushResult{Build: built}
	for _, ref := range built.Names.Tags() {
		pushed, err := b.Engine.Push(ctx, creds.image(ref), progress)
		if err != nil {
			return PushResult{}, explain(err)
		}
		res.Pushed = append(res.Pushed, pushed)
	}
	m, err := registry.Inspect(ctx, creds.image(built.Names.Commit))
	switch {
	case err != nil:
		res.Warning = fmt.Sprintf("could not read back what the registry stored (%v)", err)
	case !m.DockerV2():
		res.Warning = fmt.Sprintf("the registry stored a %s manifest for %s, which Heroku does not take as it is: "+
			"mage deploy converts it to Docker v2 schema 2 %s on the way", m.MediaType, strings.Join(m.Platforms, ", "), registry.Platform)
	}
	res.Took = time.Since(start)
	return res, nil
}

// ToRun makes sure the engine has the image mage runLocal runs, and
// returns its reference. With pull true, that is the published
// <repository>:latest, pulled with creds as run_docker.sh always did;
// otherwise it is the image of the work tree at b.Dir, built (see Build).
// out shows the pull's progress or the build's one line.
func (b *Builder) ToRun(ctx context.Context, pull bool, creds Credentials, out io.Writer) (string, error) {
	if pull {
		ref := b.Repository + ":latest"
		if err := b.Engine.Pull(ctx, creds.image(ref), out); err != nil {
			fix := "check the network and DOCKER_REGISTRY" // no network, no DNS: the daemon's words alone
			if _, refused := errors.AsType[*registry.AuthError](err); refused {
				return "", explain(err)
			}
			if _, missing := errors.AsType[*registry.NotFoundError](err); missing {
				fix = "publish it with mage push"
			}
			return "", fmt.Errorf("%w: %s, or unset %s to build and run the work tree's image", err, fix, settings.DockerHubUser.Name)
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

// explain adds to a refused-credentials error the variables to check.
func explain(err error) error {
	if _, refused := errors.AsType[*registry.AuthError](err); refused {
		return fmt.Errorf("%w: %s", err, settings.DockerHubRefused)
	}
	return err
}
