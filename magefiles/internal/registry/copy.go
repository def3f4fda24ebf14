package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Platform is the only platform the site runs on: Heroku and AWS Fargate
// run linux/amd64, whatever the laptop that built the image.
const Platform = "linux/amd64"

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

// Copy copies the image src names to dst, registry to registry, and
// returns what it wrote. Blobs dst already has are not sent again, and a
// manifest it already has is not written again: copying the same image
// twice sends nothing the second time.
//
// From an OCI index or a Docker manifest list it takes the linux/amd64
// image, leaving attestations out; an image with no linux/amd64 variant is
// an error that says how to build one. With dockerV2, an image with OCI
// media types is rewritten to Docker v2 schema 2, which is all Heroku
// takes: its config and layers stay byte for byte what they were, only the
// manifest changes.
func Copy(ctx context.Context, src, dst Image, dockerV2 bool) (Copied, error) {
	srcRef, err := name.ParseReference(src.Ref)
	if err != nil {
		return Copied{}, fmt.Errorf("reading image %s: %w", src.Ref, err)
	}
	dstRef, err := name.ParseReference(dst.Ref)
	if err != nil {
		return Copied{}, fmt.Errorf("writing image %s: %w", dst.Ref, err)
	}
	desc, err := remote.Get(srcRef, remote.WithContext(ctx), remote.WithAuth(src.auth()))
	if err != nil {
		return Copied{}, fmt.Errorf("reading image %s: %w", src.Ref, Classify(err, src))
	}
	res := Copied{Ref: dst.Ref}
	img, err := amd64Image(desc, &res)
	if err != nil {
		return Copied{}, fmt.Errorf("image %s: %w", src.Ref, err)
	}
	if dockerV2 {
		if img, err = toDockerV2(img, &res); err != nil {
			return Copied{}, fmt.Errorf("image %s: %w", src.Ref, err)
		}
	}

	sent := &uploads{base: remote.DefaultTransport}
	if err := remote.Write(dstRef, img, remote.WithContext(ctx), remote.WithAuth(dst.auth()), remote.WithTransport(sent)); err != nil {
		return Copied{}, fmt.Errorf("writing image %s: %w", dst.Ref, Classify(err, dst))
	}
	layers, err := img.Layers()
	if err != nil {
		return Copied{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Copied{}, err
	}
	config, err := img.ConfigName()
	if err != nil {
		return Copied{}, err
	}
	res.Digest, res.ConfigDigest = digest.String(), config.String()
	res.Blobs, res.BlobsSent, res.BytesSent = 1+len(layers), int(sent.blobs.Load()), sent.bytes.Load()
	return res, nil
}

// amd64Image returns desc's linux/amd64 image: desc itself, or the entry
// of its index for that platform.
func amd64Image(desc *remote.Descriptor, res *Copied) (v1.Image, error) {
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		if err != nil {
			return nil, err
		}
		p, err := platform(img)
		if err == nil && p != Platform {
			err = &PlatformError{Have: []string{p}}
		}
		return img, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	images, err := entries(idx)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range images {
		if platformOf(d) == Platform && (d.Platform.Variant == "" || d.Platform.Variant == "v1") {
			res.Changes = append(res.Changes, fmt.Sprintf("took the %s image of its %s", Platform, kind(desc.MediaType)))
			return idx.Image(d.Digest)
		}
		have = append(have, platformOf(d))
	}
	return nil, &PlatformError{Have: have}
}

// entries returns the images idx lists for a platform, leaving out
// attestations, whose platform is unknown/unknown.
func entries(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(m.Manifests), func(d v1.Descriptor) bool {
		p := platformOf(d)
		return p == "" || p == "unknown/unknown"
	}), nil
}

// platform returns the os/arch img's config says it is for.
func platform(img v1.Image) (string, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	return cfg.OS + "/" + cfg.Architecture, nil
}

func platformOf(d v1.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return d.Platform.OS + "/" + d.Platform.Architecture
}

func kind(mt types.MediaType) string {
	if mt == types.DockerManifestList {
		return "manifest list"
	}
	return "OCI index"
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
	if err != nil {
		return nil, err
	}
	if m.MediaType == types.DockerManifestSchema2 {
		return img, nil
	}
	convert := func(mt types.MediaType) (types.MediaType, error) {
		if d, ok := dockerMediaTypes[mt]; ok {
			return d, nil
		}
		return "", fmt.Errorf("its manifest has the media type %s, which Docker v2 schema 2 has no equivalent of: "+
			"rebuild it with go tool mage build push", mt)
	}
	out := v1.Manifest{SchemaVersion: 2, Config: m.Config, Layers: slices.Clone(m.Layers)}
	if out.MediaType, err = convert(m.MediaType); err != nil {
		return nil, err
	}
	if out.Config.MediaType, err = convert(m.Config.MediaType); err != nil {
		return nil, err
	}
	for i := range out.Layers {
		if out.Layers[i].MediaType, err = convert(out.Layers[i].MediaType); err != nil {
			return nil, err
		}
		out.Layers[i].Annotations = nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	res.Changes = append(res.Changes, "rewrote its OCI media types to Docker v2 schema 2")
	return &dockerV2Image{Image: img, raw: raw, manifest: &out}, nil
}

// dockerV2Image is an image whose manifest was rewritten: its config and
// layers are the original's.
type dockerV2Image struct {
	v1.Image
	raw      []byte
	manifest *v1.Manifest
}

func (d *dockerV2Image) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }
func (d *dockerV2Image) RawManifest() ([]byte, error)        { return d.raw, nil }
func (d *dockerV2Image) Manifest() (*v1.Manifest, error)     { return d.manifest, nil }
func (d *dockerV2Image) Size() (int64, error)                { return int64(len(d.raw)), nil }

func (d *dockerV2Image) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(d.raw))
	return h, err
}

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
