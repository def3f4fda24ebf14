package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// AuthFromEnv returns the registry credentials mage push and mage runLocal
// use: DOCKERHUB_USERNAME and DOCKERHUB_PASS, for DOCKER_REGISTRY.
func AuthFromEnv(env settings.Env) docker.Auth {
	return docker.Auth{
		Username:      settings.DockerHubUser.Get(env),
		Password:      settings.DockerHubPass.Get(env),
		ServerAddress: settings.DockerRegistry.Get(env),
	}
}

// ErrDirty refuses to publish a work tree with uncommitted changes.
var ErrDirty = errors.New("the work tree has uncommitted changes, and mage push publishes only committed code: " +
	"commit or stash them, then push again (mage build still builds them, tagged <commit>-dirty)")

// PushResult tells what Push did.
type PushResult struct {
	Build    Result
	Registry string
	Pushed   []docker.PushResult // one per tag, in the order of Names.Tags
	Took     time.Duration
}

// String is the one line mage push prints at the end.
func (r PushResult) String() string {
	uploaded, layers := 0, 0
	for _, p := range r.Pushed {
		uploaded += p.Uploaded
		layers = max(layers, p.Layers)
	}
	digest := ""
	if len(r.Pushed) > 0 {
		digest = r.Pushed[0].Digest
	}
	return fmt.Sprintf("pushed %s to %s (digest %s; %d of %d layers uploaded) in %s",
		strings.Join(r.Build.Names.Tags(), " and "), registryLabel(r.Registry), digest, uploaded, layers, r.Took.Round(time.Millisecond))
}

func registryLabel(registry string) string {
	if docker.IsDockerHub(registry) {
		return "Docker Hub"
	}
	return registry
}

// Push pushes the commit tag and the latest tag of a built image with auth,
// showing progress on progress. The image of a dirty work tree, which has no
// latest tag, is refused (ErrDirty).
func (b *Builder) Push(ctx context.Context, built Result, auth docker.Auth, progress io.Writer) (PushResult, error) {
	if built.Names.Latest == "" {
		return PushResult{}, ErrDirty
	}
	start := time.Now()
	res := PushResult{Build: built, Registry: b.Where.Registry}
	for _, ref := range built.Names.Tags() {
		pushed, err := b.Engine.PushImage(ctx, ref, auth, progress)
		if err != nil {
			return PushResult{}, ExplainAuth(err)
		}
		res.Pushed = append(res.Pushed, pushed)
	}
	res.Took = time.Since(start)
	return res, nil
}

// ExplainAuth adds to a refused-credentials error the variables to check.
func ExplainAuth(err error) error {
	var authErr *docker.AuthError
	switch {
	case errors.As(err, &authErr) && authErr.User == "":
		return fmt.Errorf("%w: set %s and %s", err, settings.DockerHubUser.Name, settings.DockerHubPass.Name)
	case errors.As(err, &authErr):
		return fmt.Errorf("%w: check %s/%s", err, settings.DockerHubUser.Name, settings.DockerHubPass.Name)
	}
	return err
}

// ExplainPull is ExplainAuth for a pull, which also says what to do about
// an image the registry does not have.
func ExplainPull(err error) error {
	var notFound *docker.NotFoundError
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w: publish it with mage push, or unset %s to build and run the work tree's image",
			err, settings.DockerHubUser.Name)
	}
	return ExplainAuth(err)
}
