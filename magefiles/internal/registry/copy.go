package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platform is the only platform the site runs on: Heroku and AWS Fargate
// run linux/amd64, whatever the laptop that built the image.
const Platform = "linux/amd64"

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
	desc, err := get(ctx, img)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the manifest of %s: %w", img.Ref, err)
	}
	images, _, err := variants(desc)
	m := Manifest{MediaType: desc.MediaType}
	for _, d := range images {
		m.Platforms = append(m.Platforms, platformOf(d))
	}
	return m, err
}

// Copied tells what Copy did.
type Copied struct {
	Ref          string   // where the image was written, repository:tag
	Digest       string   // the digest of the manifest written
	ConfigDigest string   // the digest of the image's config: its image ID
	Changes      []string // what was rewritten on the way, in words
	Blobs        int      // blobs of the image: its config and its layers
	BlobsSent    int      // blobs uploaded; the target had the others
	BytesSent    int64    // bytes of the blobs uploaded
}

// Copy copies the image src names to dst, registry to registry, and returns
// what it wrote; what dst already has is not sent again. From an OCI index
// or a Docker manifest list it takes the linux/amd64 image, leaving
// attestations out (an image without one is an error that says how to build
// one). With dockerV2, OCI media types are rewritten to Docker v2 schema 2,
// all Heroku takes: only the manifest changes, not the config or layers.
func Copy(ctx context.Context, src, dst Image, dockerV2 bool) (Copied, error) {
	dstRef, err := name.ParseReference(dst.Ref)
	if err != nil {
		return Copied{}, fmt.Errorf("writing image %s: %w", dst.Ref, err)
	}
	desc, err := get(ctx, src)
	if err != nil {
		return Copied{}, fmt.Errorf("reading image %s: %w", src.Ref, err)
	}
	res := Copied{Ref: dst.Ref}
	img, err := amd64Image(desc, &res)
	if err == nil && dockerV2 {
		img, err = toDockerV2(img, &res)
	}
	if err != nil {
		return Copied{}, fmt.Errorf("image %s: %w", src.Ref, err)
	}
	sent := &uploads{base: remote.DefaultTransport}
	if err := remote.Write(dstRef, img, remote.WithContext(ctx), remote.WithAuth(dst.auth()), remote.WithTransport(sent)); err != nil {
		return Copied{}, fmt.Errorf("writing image %s: %w", dst.Ref, Classify(err, dst))
	}
	m, err := img.Manifest()
	if err != nil {
		return Copied{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Copied{}, err
	}
	res.Digest, res.ConfigDigest = digest.String(), m.Config.Digest.String()
	res.Blobs, res.BlobsSent, res.BytesSent = 1+len(m.Layers), int(sent.blobs.Load()), sent.bytes.Load()
	return res, nil
}

// get reads the descriptor img names.
func get(ctx context.Context, img Image) (*remote.Descriptor, error) {
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithAuth(img.auth()))
	return desc, Classify(err, img)
}

// variants returns the images desc names, each with its platform: desc's
// own image, which it also returns, or those its index lists, leaving out
// attestations (platform unknown/unknown).
func variants(desc *remote.Descriptor) ([]v1.Descriptor, v1.Image, error) {
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, nil, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, nil, err
		}
		return []v1.Descriptor{{Platform: &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture}}}, img, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	return slices.DeleteFunc(slices.Clone(m.Manifests), func(d v1.Descriptor) bool {
		return platformOf(d) == "" || platformOf(d) == "unknown/unknown"
	}), nil, nil
}

// amd64Image returns desc's linux/amd64 image: desc itself, or the entry
// of its index for that platform.
func amd64Image(desc *remote.Descriptor, res *Copied) (v1.Image, error) {
	images, img, err := variants(desc)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range images {
		if platformOf(d) != Platform || d.Platform.Variant != "" && d.Platform.Variant != "v1" {
			have = append(have, platformOf(d))
			continue
		}
		if img != nil { // desc is that image
			return img, nil
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		kind := "OCI index"
		if desc.MediaType == types.DockerManifestList {
			kind = "manifest list"
		}
		res.Changes = append(res.Changes, fmt.Sprintf("took the %s image of its %s", Platform, kind))
		return idx.Image(d.Digest)
	}
	return nil, &PlatformError{Have: have}
}

func platformOf(d v1.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return d.Platform.OS + "/" + d.Platform.Architecture
}

// PlatformError reports an image with no linux/amd64 variant.
type PlatformError struct {
	Have []string // the platforms it has
}

func (e *PlatformError) Error() string {
	have := "none"
	if len(e.Have) > 0 {
		have = strings.Join(e.Have, ", ")
	}
	return fmt.Sprintf("it has no %s variant (it has: %s), and the site runs on %s: build it with go tool mage build push, "+
		"which always builds %s, or with docker buildx build --platform %s --push", Platform, have, Platform, Platform, Platform)
}

// dockerMediaTypes are the Docker v2 schema 2 equivalents of OCI media types.
var dockerMediaTypes = map[types.MediaType]types.MediaType{
	types.OCIManifestSchema1:   types.DockerManifestSchema2,
	types.OCIConfigJSON:        types.DockerConfigJSON,
	types.OCILayer:             types.DockerLayer,
	types.OCIUncompressedLayer: types.DockerUncompressedLayer,
}

// toDockerV2 returns img with Docker v2 schema 2 media types in its
// manifest, if it has OCI ones.
func toDockerV2(img v1.Image, res *Copied) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil || m.MediaType == types.DockerManifestSchema2 {
		return img, err
	}
	out := v1.Manifest{SchemaVersion: 2, MediaType: m.MediaType, Config: m.Config, Layers: slices.Clone(m.Layers)}
	mediaTypes := []*types.MediaType{&out.MediaType, &out.Config.MediaType}
	for i := range out.Layers {
		out.Layers[i].Annotations = nil
		mediaTypes = append(mediaTypes, &out.Layers[i].MediaType)
	}
	for _, mt := range mediaTypes {
		docker, ok := dockerMediaTypes[*mt]
		if !ok {
			return nil, fmt.Errorf("its manifest has the media type %s, which Docker v2 schema 2 has no equivalent of: "+
				"rebuild it with go tool mage build push", *mt)
		}
		*mt = docker
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	res.Changes = append(res.Changes, "rewrote its OCI media types to Docker v2 schema 2")
	return &dockerV2Image{Image: img, raw: raw}, nil
}

// dockerV2Image is an image whose manifest was rewritten: its config and
// layers are the original's.
type dockerV2Image struct {
	v1.Image
	raw []byte
}

func (d *dockerV2Image) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }
func (d *dockerV2Image) RawManifest() ([]byte, error)        { return d.raw, nil }
func (d *dockerV2Image) Manifest() (*v1.Manifest, error)     { return partial.Manifest(d) }
func (d *dockerV2Image) Size() (int64, error)                { return partial.Size(d) }
func (d *dockerV2Image) Digest() (v1.Hash, error)            { return partial.Digest(d) }

// uploads counts the blobs sent through it and their bytes.
type uploads struct {
	base         http.RoundTripper
	blobs, bytes atomic.Int64
}

func (u *uploads) RoundTrip(req *http.Request) (*http.Response, error) {
	isUpload := strings.Contains(req.URL.Path, "/blobs/uploads/") && (req.Method == http.MethodPatch || req.Method == http.MethodPut)
	resp, err := u.base.RoundTrip(req)
	if err != nil || !isUpload || resp.StatusCode >= 300 {
		return resp, err
	}
	u.bytes.Add(max(req.ContentLength, 0))
	if req.Method == http.MethodPut {
		u.blobs.Add(1) // the request that completes an upload
	}
	return resp, nil
}
