package testenv

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image returns a small image for os/arch with two random layers, with
// Docker v2 schema 2 media types, or OCI ones when oci is true: what a
// modern Docker Desktop or BuildKit pushes.
func Image(t testing.TB, oci bool, os, arch string) v1.Image {
	t.Helper()
	manifest, config, layer := types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer
	if oci {
		manifest, config, layer = types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, manifest), config)
	for range 2 {
		l, err := random.Layer(2048, layer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = os, arch
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// Index returns an OCI index (or, with oci false, a Docker manifest list)
// of one image per platform given ("linux/amd64", "linux/arm64"), plus,
// with attestation, a provenance attestation manifest with the platform
// unknown/unknown, as BuildKit adds.
func Index(t testing.TB, oci, attestation bool, platforms ...[2]string) v1.ImageIndex {
	t.Helper()
	mt := types.DockerManifestList
	if oci {
		mt = types.OCIImageIndex
	}
	idx := mutate.IndexMediaType(empty.Index, mt)
	for _, p := range platforms {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        Image(t, oci, p[0], p[1]),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p[0], Architecture: p[1]}},
		})
	}
	if attestation {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: Image(t, true, "unknown", "unknown"),
			Descriptor: v1.Descriptor{
				Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
			},
		})
	}
	return idx
}

// Put writes an image or an index to ref in the registry, as its user.
func (r *Registry) Put(t testing.TB, ref string, image remote.Taggable) {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Push(parsed, image, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})); err != nil {
		t.Fatalf("putting %s into the test registry: %v", ref, err)
	}
}
