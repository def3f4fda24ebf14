package deploy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// TestImagesOfAModernDocker deploys what recent Docker Engine and Docker
// Desktop releases push (OCI manifests, OCI indexes with attestations) to
// Heroku's stand-in with no Docker engine anywhere, and checks that what
// arrives is what Heroku takes: a Docker v2 schema 2, linux/amd64 image
// with the source's layers and config, byte for byte, and that exactly
// that config is released.
func TestImagesOfAModernDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1") // nowhere: deploy needs no engine
	for _, tc := range []struct {
		name  string
		image func(t *testing.T) remote.Taggable
	}{
		{"an OCI image manifest", func(t *testing.T) remote.Taggable { return testenv.Image(t, true, "linux", "amd64") }},
		{"an OCI index with an attestation", func(t *testing.T) remote.Taggable {
			return testenv.Index(t, true, true, [2]string{"linux", "arm64"}, [2]string{"linux", "amd64"})
		}},
		{"a Docker manifest list", func(t *testing.T) remote.Taggable {
			return testenv.Index(t, false, false, [2]string{"linux", "amd64"}, [2]string{"linux", "arm64"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // with each other only: the test sets DOCKER_HOST, so it is not parallel itself
			w := newWorld(t)
			image := tc.image(t)
			config := w.publish(newCommit, image)
			res, err := w.run(w.platform(apiKey), w.config())
			if err != nil {
				t.Fatalf("deploy failed: %v\n%s", err, w.out)
			}
			released := w.heroku.Releases(app)
			if last := released[len(released)-1]; !last.Current || last.Image != config || res.Copied.ConfigDigest != config {
				t.Errorf("released %+v (copied config %s), want the source's linux/amd64 config %s current", last, res.Copied.ConfigDigest, config)
			}
			ref, err := name.ParseReference(w.reg.Host + "/" + app + "/web:latest")
			if err != nil {
				t.Fatal(err)
			}
			arrived, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: "_", Password: apiKey}))
			if err != nil {
				t.Fatal(err)
			}
			m, err := arrived.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := arrived.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.DockerManifestSchema2 || m.Config.MediaType != types.DockerConfigJSON ||
				cfg.OS+"/"+cfg.Architecture != "linux/amd64" || m.Config.Digest.String() != config {
				t.Errorf("arrived: %s, config %s %s, %s/%s; want Docker v2 schema 2 of the linux/amd64 config %s",
					m.MediaType, m.Config.MediaType, m.Config.Digest, cfg.OS, cfg.Architecture, config)
			}
			want := sourceLayers(t, image)
			for i, l := range m.Layers {
				if l.MediaType != types.DockerLayer || i >= len(want) || l.Digest != want[i] {
					t.Errorf("layer %d arrived as %s %s, want %s with the source's digest %v", i, l.MediaType, l.Digest, types.DockerLayer, want)
				}
			}
			if len(m.Layers) != len(want) {
				t.Errorf("%d layers arrived, want %d", len(m.Layers), len(want))
			}
		})
	}
}

// sourceLayers returns the layer digests of the linux/amd64 image of image.
func sourceLayers(t *testing.T, image remote.Taggable) []v1.Hash {
	t.Helper()
	img, _ := image.(v1.Image)
	if idx, ok := image.(v1.ImageIndex); ok {
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.Manifests {
			if d.Platform.Architecture == "amd64" {
				if img, err = idx.Image(d.Digest); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for _, l := range m.Layers {
		digests = append(digests, l.Digest)
	}
	return digests
}

func TestAnImageWithoutAMD64IsRefused(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	w := newWorld(t)
	w.publish(newCommit, testenv.Index(t, true, true, [2]string{"linux", "arm64"}))
	_, err := w.run(w.platform(apiKey), w.config())
	var pe *registry.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *registry.PlatformError", err)
	}
	contains(t, "the error", err.Error(), "has no linux/amd64 variant (it has: linux/arm64)", "go tool mage build push", "--platform linux/amd64", "nothing was released")
	if strings.Contains(w.reg.Log(), "PUT /v2/"+app+"/web/manifests/") {
		t.Error("something was written to Heroku's registry")
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}
