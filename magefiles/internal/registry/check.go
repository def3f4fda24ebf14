package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A Manifest is what a registry holds for an image reference, in brief.
type Manifest struct {
	MediaType types.MediaType
	Platforms []string // os/arch of the image, or of each image of an index, attestations left out
}

// DockerV2 reports whether the manifest is the one Heroku takes as it is:
// a Docker v2 schema 2 manifest of a linux/amd64 image.
func (m Manifest) DockerV2() bool {
	return m.MediaType == types.DockerManifestSchema2 && len(m.Platforms) == 1 && m.Platforms[0] == Platform
}

// Inspect reads the manifest img names.
func Inspect(ctx context.Context, img Image) (Manifest, error) {
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return Manifest{}, err
	}
	desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithAuth(img.auth()))
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the manifest of %s: %w", img.Ref, Classify(err, img))
	}
	m := Manifest{MediaType: desc.MediaType}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return m, err
		}
		p, err := platform(img)
		m.Platforms = []string{p}
		return m, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return m, err
	}
	images, err := entries(idx)
	for _, d := range images {
		m.Platforms = append(m.Platforms, platformOf(d))
	}
	return m, err
}

// CheckPush checks that img's credentials may push to its repository,
// without pushing anything, and returns an *AuthError when they may not.
func CheckPush(ctx context.Context, img Image) error {
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return err
	}
	err = remote.CheckPushPermission(ref, keychain{img.auth()}, withContext{ctx, remote.DefaultTransport})
	return Classify(err, img)
}

// keychain gives the same credentials for every registry.
type keychain struct{ auth authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// withContext sends every request with ctx, so that a call which takes no
// context still ends with it.
type withContext struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t withContext) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
