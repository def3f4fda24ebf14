package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildOptions say what to build and how to name it.
type BuildOptions struct {
	// Context is the build context: a tar archive holding the Dockerfile
	// (at its root, named Dockerfile) and every file the Dockerfile copies.
	Context   io.Reader
	Tags      []string          // names for the image, repository:tag
	BuildArgs map[string]string // values for the Dockerfile's ARGs
	Labels    map[string]string // labels added to the image config
	Platform  string            // os/arch to build for, e.g. linux/amd64
	NoCache   bool              // rebuild every step
	Log       io.Writer         // receives the engine's build log; nil discards it
}

// Build builds an image with the engine's classic builder (BuildKit needs a
// client-side session this package does not run) and returns its ID.
// A failing step is returned as an error; its output is in the log.
func (e *Engine) Build(ctx context.Context, o BuildOptions) (string, error) {
	opts := client.ImageBuildOptions{
		Tags:        o.Tags,
		Labels:      o.Labels,
		NoCache:     o.NoCache,
		Remove:      true,
		ForceRemove: true, // no intermediate container left behind, even on failure
		Version:     build.BuilderV1,
	}
	if len(o.BuildArgs) > 0 {
		opts.BuildArgs = map[string]*string{}
		for k, v := range o.BuildArgs {
			opts.BuildArgs[k] = &v
		}
	}
	if o.Platform != "" {
		p, err := parsePlatform(o.Platform)
		if err != nil {
			return "", err
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	res, err := e.cli.ImageBuild(ctx, o.Context, opts)
	if err != nil {
		return "", fmt.Errorf("sending the build to the Docker engine at %s: %w", e.Host(), err)
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	var id string
	err = readStream(ctx, res.Body, func(m jsonstream.Message) {
		switch {
		case m.Stream != "":
			_, _ = io.WriteString(log, m.Stream)
		case m.Status != "":
			_, _ = fmt.Fprintln(log, m.Status)
		case m.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
	})
	if err != nil {
		return "", fmt.Errorf("the Docker engine could not build the image: %w", err)
	}
	if id == "" {
		return "", errors.New("the Docker engine ended the build without naming the image it built; run again with mage -v to see its log")
	}
	return id, nil
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q is not os/arch[/variant], e.g. linux/amd64", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Image is what the pipeline needs to know about a local image.
type Image struct {
	ID           string // config digest, sha256:...
	Tags         []string
	Size         int64 // bytes
	OS, Arch     string
	User         string
	Entrypoint   []string
	Cmd          []string
	Env          []string
	ExposedPorts []string // e.g. 8000/tcp, sorted
	Labels       map[string]string
}

// Platform returns the image's os/arch, e.g. linux/amd64.
func (i Image) Platform() string { return i.OS + "/" + i.Arch }

// Image returns the local image ref (a name or an ID); found is false when
// the engine has no such image.
func (e *Engine) Image(ctx context.Context, ref string) (img Image, found bool, err error) {
	res, err := e.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, fmt.Errorf("inspecting the image %s: %w", ref, err)
	}
	img = Image{ID: res.ID, Tags: res.RepoTags, Size: res.Size, OS: res.Os, Arch: res.Architecture}
	if c := res.Config; c != nil {
		img.User, img.Entrypoint, img.Cmd, img.Env, img.Labels = c.User, c.Entrypoint, c.Cmd, c.Env, c.Labels
		img.ExposedPorts = slices.Sorted(maps.Keys(c.ExposedPorts))
	}
	return img, true, nil
}

// ImageID returns the ID of the local image ref, which is the digest of its
// config (sha256:...), the value Heroku's docker-releases API wants.
// found is false when the engine has no such image.
func (e *Engine) ImageID(ctx context.Context, ref string) (id string, found bool, err error) {
	img, found, err := e.Image(ctx, ref)
	return img.ID, found, err
}

// Tag gives the image source the additional name target.
func (e *Engine) Tag(ctx context.Context, source, target string) error {
	_, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target})
	if cerrdefs.IsNotFound(err) {
		return &NotFoundError{Ref: source, Err: err}
	}
	if err != nil {
		return fmt.Errorf("tagging %s as %s: %w", source, target, err)
	}
	return nil
}

// RemoveUntagged removes the image id, and the untagged parents it was built
// on, if nothing names it any more: the image a tag pointed at before a
// rebuild moved the tag. An image that still has a tag, or that a container
// uses, stays, and so does one that is already gone.
func (e *Engine) RemoveUntagged(ctx context.Context, id string) error {
	img, found, err := e.Image(ctx, id)
	if err != nil || !found || len(img.Tags) > 0 {
		return err
	}
	_, err = e.cli.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("removing the replaced image %s: %w", id, err)
	}
	return nil
}

// PushResult tells what a push did.
type PushResult struct {
	Digest   string // the manifest digest the registry stored
	Layers   int    // layers in the image
	Uploaded int    // layers sent; the others were already in the registry
}

// Push pushes ref (repository:tag) with auth, writing progress to progress,
// and reads the engine's JSON stream to the end: an error inside the stream
// (a wrong password arrives there) is returned as an error.
func (e *Engine) Push(ctx context.Context, ref string, auth Auth, progress io.Writer) error {
	_, err := e.PushImage(ctx, ref, auth, progress)
	return err
}

// PushImage is Push, telling also what was uploaded. A refused password is
// an *AuthError; an image the engine does not have is a *NotFoundError.
func (e *Engine) PushImage(ctx context.Context, ref string, auth Auth, progress io.Writer) (PushResult, error) {
	if auth.ServerAddress == "" {
		auth.ServerAddress = registryOf(ref)
	}
	header, err := auth.header()
	if err != nil {
		return PushResult{}, err
	}
	var res PushResult
	final := map[string]string{} // last status of each layer
	err = e.stream(ctx, progress, auth, func() (io.ReadCloser, error) {
		return e.cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: header})
	}, func(m jsonstream.Message) {
		if m.ID != "" && m.Status != "" {
			final[m.ID] = m.Status
		}
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			res.Digest = aux.Digest
		}
	})
	if err != nil {
		return PushResult{}, registryError("pushing", ref, auth, err)
	}
	for _, status := range final {
		res.Layers++
		if status == "Pushed" {
			res.Uploaded++
		}
	}
	return res, nil
}

// Pull pulls ref with auth, writing progress to progress.
// An image the registry does not have is a *NotFoundError; refused
// credentials are an *AuthError.
func (e *Engine) Pull(ctx context.Context, ref string, auth Auth, progress io.Writer) error {
	if auth.ServerAddress == "" {
		auth.ServerAddress = registryOf(ref)
	}
	header, err := auth.header()
	if err != nil {
		return err
	}
	err = e.stream(ctx, progress, auth, func() (io.ReadCloser, error) {
		return e.cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: header})
	}, nil)
	if err != nil {
		return registryError("pulling", ref, auth, err)
	}
	return nil
}

// stream starts a push or a pull with start and reads its message stream to
// the end, showing progress (with auth's password masked) and passing every
// message to handle.
func (e *Engine) stream(ctx context.Context, progress io.Writer, auth Auth,
	start func() (io.ReadCloser, error), handle func(jsonstream.Message),
) error {
	body, err := start()
	if err != nil {
		return err
	}
	if progress == nil {
		progress = io.Discard
	}
	out := auth.redactor().Writer(progress)
	defer func() { _ = out.Close() }()
	p := NewProgress(out, IsTerminal(progress))
	return readStream(ctx, body, func(m jsonstream.Message) {
		p.Update(m)
		if handle != nil {
			handle(m)
		}
	})
}

// registryError turns what the engine said about a push or a pull into an
// error a user can act on, with the password masked.
func registryError(verb, ref string, auth Auth, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: stopped: %w", verb, ref, err)
	}
	red := auth.redactor()
	msg := err.Error()
	switch {
	case isNotFound(msg) || cerrdefs.IsNotFound(err):
		return &NotFoundError{Ref: ref, Err: red.Error(err)}
	case isAuthFailure(msg) || cerrdefs.IsUnauthorized(err):
		user := auth.Username
		if auth.anonymous() {
			user = ""
		}
		return &AuthError{Registry: auth.ServerAddress, User: user, Err: red.Error(err)}
	default:
		return red.Error(fmt.Errorf("%s %s (%s): %w", verb, ref, registryName(auth.ServerAddress), err))
	}
}
