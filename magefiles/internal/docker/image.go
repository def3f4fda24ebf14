package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	reg "github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

// BuildOptions say what to build and how to name it.
type BuildOptions struct {
	Context   io.Reader         // a tar archive: the Dockerfile at its root, and every file it copies
	Tags      []string          // names for the image, repository:tag
	BuildArgs map[string]string // values for the Dockerfile's ARGs
	Labels    map[string]string // labels added to the image config
	NoCache   bool              // rebuild every step
	Log       io.Writer         // receives the engine's build log; nil discards it
}

// BinaryContext returns a build context that holds only the Dockerfile and
// one executable, name, that it copies: a tar archive with fixed times and
// owners, so that the same bytes always give the same layer.
func BinaryContext(dockerfile []byte, name string, binary []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {name, 0o755, binary}} {
		// Writing to memory cannot fail.
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR})
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return &buf
}

// Build builds a linux/amd64 image, whatever the machine, with the
// engine's classic builder (BuildKit needs a client-side session this
// package does not run) and returns the image. The engine's log goes to
// o.Log; a failing step is returned as an error.
func (e *Engine) Build(ctx context.Context, o BuildOptions) (Image, error) {
	opts := client.ImageBuildOptions{
		Tags:        o.Tags,
		Labels:      o.Labels,
		NoCache:     o.NoCache,
		Remove:      true,
		ForceRemove: true, // no intermediate container left behind, even on failure
		Version:     build.BuilderV1,
		BuildArgs:   map[string]*string{},
		Platforms:   []ocispec.Platform{{OS: "linux", Architecture: "amd64"}},
	}
	for k, v := range o.BuildArgs {
		opts.BuildArgs[k] = &v
	}
	res, err := e.cli.ImageBuild(ctx, o.Context, opts)
	if err != nil {
		return Image{}, fmt.Errorf("sending the build to the Docker engine at %s: %w", e.Host(), err)
	}
	defer func() { _ = res.Body.Close() }()
	var id string
	err = jsonmessage.DisplayJSONMessagesStream(res.Body, orDiscard(o.Log), 0, false, func(m jsonstream.Message) {
		var aux struct{ ID string }
		if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	})
	switch {
	case err != nil:
		return Image{}, fmt.Errorf("the Docker engine could not build the image: %w", stopped(ctx, err))
	case id == "":
		return Image{}, errors.New("the Docker engine ended the build without naming the image it built; " +
			"run again with mage -v to see its log")
	}
	img, found, err := e.Image(ctx, id)
	if err == nil && !found {
		err = fmt.Errorf("the image %s the Docker engine just built has gone", id)
	}
	return img, err
}

// Image is what the pipeline needs to know about a local image.
type Image struct {
	ID       string // config digest, sha256:...
	Tags     []string
	Size     int64 // bytes
	OS, Arch string
	Labels   map[string]string
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
	if res.Config != nil {
		img.Labels = res.Config.Labels
	}
	return img, true, nil
}

// Tag gives the image source the additional name target.
func (e *Engine) Tag(ctx context.Context, source, target string) error {
	_, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target})
	if cerrdefs.IsNotFound(err) {
		return &reg.NotFoundError{Ref: source, Err: err}
	}
	if err != nil {
		return fmt.Errorf("tagging %s as %s: %w", source, target, err)
	}
	return nil
}

// RemoveUntagged removes the image id, and the untagged parents it was built
// on, if nothing names it any more: the image a tag pointed at before a
// rebuild moved it, or the loser of two builds at once. An image that still
// has a tag, or that a container uses, stays, and so does one already gone.
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

// Push pushes img.Ref (repository:tag) with img's credentials, showing
// progress on progress: redrawn in place on a terminal, a line per change
// elsewhere. A refused password is a *registry.AuthError; an image the
// engine does not have is a *registry.NotFoundError.
func (e *Engine) Push(ctx context.Context, img reg.Image, progress io.Writer) (PushResult, error) {
	resp, err := e.cli.ImagePush(ctx, img.Ref, client.ImagePushOptions{RegistryAuth: authHeader(img)})
	if err != nil {
		return PushResult{}, registryError("pushing", img, stopped(ctx, err))
	}
	var res PushResult
	final := map[string]string{} // the last status of each layer
	messages := func(yield func(jsonstream.Message, error) bool) {
		for m, err := range resp.JSONMessages(ctx) {
			if m.ID != "" && m.Status != "" {
				final[m.ID] = m.Status
			}
			if !yield(m, err) {
				return
			}
		}
	}
	digest := jsonmessage.WithAuxCallback(func(m jsonstream.Message) {
		var aux struct{ Digest string }
		if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			res.Digest = aux.Digest
		}
	})
	if err := jsonmessage.DisplayMessages(messages, orDiscard(progress), digest); err != nil {
		return PushResult{}, registryError("pushing", img, stopped(ctx, err))
	}
	for _, status := range final {
		res.Layers++
		if status == "Pushed" {
			res.Uploaded++
		}
	}
	return res, nil
}

// Pull pulls img.Ref with img's credentials, showing progress on progress.
// An image the registry does not have is a *registry.NotFoundError;
// refused credentials are a *registry.AuthError.
func (e *Engine) Pull(ctx context.Context, img reg.Image, progress io.Writer) error {
	resp, err := e.cli.ImagePull(ctx, img.Ref, client.ImagePullOptions{RegistryAuth: authHeader(img)})
	if err == nil {
		err = jsonmessage.DisplayMessages(resp.JSONMessages(ctx), orDiscard(progress))
	}
	if err != nil {
		return registryError("pulling", img, stopped(ctx, err))
	}
	return nil
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer { return cmp.Or[io.Writer](w, io.Discard) }

// dockerHubAuthAddress is where the engine files Docker Hub credentials.
const dockerHubAuthAddress = "https://index.docker.io/v1/"

// authHeader encodes img's credentials for the engine's X-Registry-Auth
// header (base64url JSON): the only way they reach the engine, never a file
// or a command line. Anonymous access sends an empty configuration, as
// engines refuse a push without the header.
func authHeader(img reg.Image) string {
	var c registry.AuthConfig
	if img.Password != "" {
		host := reg.HostOf(img.Ref)
		if reg.IsDockerHub(host) {
			host = dockerHubAuthAddress
		}
		c = registry.AuthConfig{Username: img.User, Password: img.Password, ServerAddress: host}
	}
	h, _ := authconfig.Encode(c) // a struct of strings always encodes
	return h
}

// stopped returns the context's cause when ctx ended: the engine's own
// words for a cut connection say less.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	return err
}

// registryError turns what the engine said about a push or a pull into an
// error a user can act on, with the password masked.
func registryError(verb string, img reg.Image, err error) error {
	err = reg.Classify(redact.New(img.Password).Error(err), img)
	var refused *reg.AuthError
	var missing *reg.NotFoundError
	if errors.As(err, &refused) || errors.As(err, &missing) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s %s (%s): %w", verb, img.Ref, reg.Describe(reg.HostOf(img.Ref)), err)
}
