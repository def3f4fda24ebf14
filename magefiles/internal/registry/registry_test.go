package registry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func TestRepository(t *testing.T) {
	tests := []struct{ host, user, name, want string }{
		{"docker.io", "alice", "oc-lettings", "alice/oc-lettings"},
		{"index.docker.io", "alice", "oc-lettings", "alice/oc-lettings"},
		{"ghcr.io", "alice", "oc-lettings", "ghcr.io/alice/oc-lettings"},
		{"127.0.0.1:5000", "ci-user", "site", "127.0.0.1:5000/ci-user/site"},
		{"ghcr.io", "", "oc-lettings", "oc-lettings"},
	}
	for _, tt := range tests {
		if got := Repository(tt.host, tt.user, tt.name); got != tt.want {
			t.Errorf("Repository(%q, %q, %q) = %q, want %q", tt.host, tt.user, tt.name, got, tt.want)
		}
	}
	for ref, want := range map[string]string{
		"alice/oc-lettings:latest":           "docker.io",
		"ghcr.io/alice/oc-lettings:1":        "ghcr.io",
		"127.0.0.1:5000/alice/oc-lettings:1": "127.0.0.1:5000",
	} {
		if got := HostOf(ref); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

// stored is what the target registry holds after a copy.
type stored struct {
	mediaType, configType types.MediaType
	layerTypes            []types.MediaType
	layers                []v1.Hash
	config                v1.Hash
}

func read(t *testing.T, reg *testenv.Registry, ref string) stored {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}))
	if err != nil {
		t.Fatalf("reading %s back: %v", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	s := stored{mediaType: m.MediaType, configType: m.Config.MediaType, config: m.Config.Digest}
	for _, l := range m.Layers {
		s.layerTypes = append(s.layerTypes, l.MediaType)
		s.layers = append(s.layers, l.Digest)
	}
	return s
}

func layersOf(t *testing.T, img v1.Image) (layers []v1.Hash, config v1.Hash) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		layers = append(layers, l.Digest)
	}
	return layers, m.Config.Digest
}

// TestCopyNormalisesForHeroku puts into a real registry the images a
// modern Docker pushes and copies each to another, as deploy does from
// Docker Hub to Heroku's registry.
func TestCopyNormalisesForHeroku(t *testing.T) {
	reg := testenv.StartRegistry(t)
	heroku := testenv.StartRegistry(t, testenv.WithUser("_", "api-key"))
	amd64 := [2]string{"linux", "amd64"}
	arm64 := [2]string{"linux", "arm64"}
	ociAMD64 := testenv.Image(t, true, "linux", "amd64")
	ociIndex := testenv.Index(t, true, true, amd64, arm64)
	ociIndexAMD64, err := ociIndex.Image(mustManifest(t, ociIndex).Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	dockerAMD64 := testenv.Image(t, false, "linux", "amd64")
	tests := []struct {
		name    string
		source  remote.Taggable
		want    v1.Image // whose config and layers must arrive
		changes string
	}{
		{"a Docker v2 schema 2 image", dockerAMD64, dockerAMD64, ""},
		{"an OCI image manifest", ociAMD64, ociAMD64, "rewrote its OCI media types to Docker v2 schema 2"},
		{
			"an OCI index with an attestation", ociIndex, ociIndexAMD64,
			"took the linux/amd64 image of its OCI index; rewrote its OCI media types to Docker v2 schema 2",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := reg.Host + "/ci-user/site:" + string(rune('a'+i))
			reg.Put(t, src, tt.source)
			dst := heroku.Host + "/app-" + string(rune('a'+i)) + "/web:latest"
			creds := Image{User: "_", Password: "api-key"}
			got, err := Copy(context.Background(), Image{Ref: src, User: reg.User, Password: reg.Password},
				Image{Ref: dst, User: creds.User, Password: creds.Password}, true)
			if err != nil {
				t.Fatal(err)
			}
			if c := strings.Join(got.Changes, "; "); c != tt.changes {
				t.Errorf("changes %q, want %q", c, tt.changes)
			}
			s := read(t, heroku, dst)
			if s.mediaType != types.DockerManifestSchema2 || s.configType != types.DockerConfigJSON {
				t.Errorf("arrived as %s with config %s, want Docker v2 schema 2", s.mediaType, s.configType)
			}
			for _, lt := range s.layerTypes {
				if lt != types.DockerLayer {
					t.Errorf("a layer arrived as %s, want %s", lt, types.DockerLayer)
				}
			}
			layers, config := layersOf(t, tt.want)
			if s.config != config || got.ConfigDigest != config.String() {
				t.Errorf("config %s arrived, reported %s; want the source's %s, byte for byte", s.config, got.ConfigDigest, config)
			}
			if len(s.layers) != len(layers) || s.layers[0] != layers[0] || s.layers[1] != layers[1] {
				t.Errorf("layers %v arrived, want the source's %v", s.layers, layers)
			}
			if got.Blobs != 3 || got.BlobsSent != 3 || got.BytesSent == 0 {
				t.Errorf("first copy: %d of %d blobs sent, %d bytes; want all 3", got.BlobsSent, got.Blobs, got.BytesSent)
			}
			again, err := Copy(context.Background(), Image{Ref: src, User: reg.User, Password: reg.Password},
				Image{Ref: dst, User: creds.User, Password: creds.Password}, true)
			if err != nil {
				t.Fatal(err)
			}
			if again.BlobsSent != 0 || again.BytesSent != 0 || again.Digest != got.Digest {
				t.Errorf("second copy sent %d blobs, %d bytes, digest %s; want nothing sent and %s", again.BlobsSent, again.BytesSent, again.Digest, got.Digest)
			}
		})
	}
}

func mustManifest(t *testing.T, idx v1.ImageIndex) *v1.IndexManifest {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCopyKeepsOCIWhenThePlatformTakesIt(t *testing.T) {
	reg := testenv.StartRegistry(t)
	src := reg.Host + "/ci-user/site:oci"
	reg.Put(t, src, testenv.Image(t, true, "linux", "amd64"))
	dst := reg.Host + "/ci-user/copy:oci"
	creds := func(ref string) Image { return Image{Ref: ref, User: reg.User, Password: reg.Password} }
	got, err := Copy(context.Background(), creds(src), creds(dst), false)
	if err != nil {
		t.Fatal(err)
	}
	if s := read(t, reg, dst); s.mediaType != types.OCIManifestSchema1 || len(got.Changes) != 0 {
		t.Errorf("arrived as %s with changes %q, want the OCI manifest as it was", s.mediaType, got.Changes)
	}
}

func TestCopyRefusesAnImageWithoutAMD64(t *testing.T) {
	reg := testenv.StartRegistry(t)
	src := reg.Host + "/ci-user/site:arm"
	reg.Put(t, src, testenv.Index(t, false, false, [2]string{"linux", "arm64"}, [2]string{"linux", "arm"}))
	creds := func(ref string) Image { return Image{Ref: ref, User: reg.User, Password: reg.Password} }
	_, err := Copy(context.Background(), creds(src), creds(reg.Host+"/app/web:latest"), true)
	var pe *PlatformError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "no linux/amd64 variant (it has: linux/arm64, linux/arm)") ||
		!strings.Contains(err.Error(), "go tool mage build push") {
		t.Errorf("error %v, want one naming the platforms it has and how to build linux/amd64", err)
	}
	if _, err := Inspect(context.Background(), creds(reg.Host+"/app/web:latest")); err == nil {
		t.Error("something was written to the target")
	}
}

func TestCopyErrorsNameTheProblem(t *testing.T) {
	reg := testenv.StartRegistry(t)
	src := reg.Host + "/ci-user/site:1"
	reg.Put(t, src, testenv.Image(t, false, "linux", "amd64"))
	good := func(ref string) Image { return Image{Ref: ref, User: reg.User, Password: reg.Password} }
	_, err := Copy(context.Background(), Image{Ref: src, User: reg.User, Password: "wrong-pw"}, good(reg.Host+"/x/y:1"), true)
	var auth *AuthError
	if !errors.As(err, &auth) || auth.User != reg.User || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("wrong source password: %v, want an *AuthError naming the user, not the password", err)
	}
	_, err = Copy(context.Background(), good(reg.Host+"/ci-user/site:missing"), good(reg.Host+"/x/y:1"), true)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("missing source: %v, want a *NotFoundError", err)
	}
	_, err = Copy(context.Background(), good(src), Image{Ref: reg.Host + "/x/y:1", User: "_", Password: "bad-key"}, true)
	if !errors.As(err, &auth) || auth.User != "_" || strings.Contains(err.Error(), "bad-key") {
		t.Errorf("wrong target password: %v, want an *AuthError", err)
	}
}

func TestInspectAndCheckPush(t *testing.T) {
	reg := testenv.StartRegistry(t)
	img := func(ref, pw string) Image {
		return Image{Ref: reg.Host + "/ci-user/" + ref, User: reg.User, Password: pw}
	}
	reg.Put(t, img("site:docker", "").Ref, testenv.Image(t, false, "linux", "amd64"))
	reg.Put(t, img("site:index", "").Ref, testenv.Index(t, true, true, [2]string{"linux", "amd64"}, [2]string{"linux", "arm64"}))
	for ref, want := range map[string]bool{"site:docker": true, "site:index": false} {
		m, err := Inspect(context.Background(), img(ref, reg.Password))
		if err != nil {
			t.Fatal(err)
		}
		if m.DockerV2() != want {
			t.Errorf("%s: %+v DockerV2 = %v, want %v", ref, m, m.DockerV2(), want)
		}
	}
	if m, _ := Inspect(context.Background(), img("site:index", reg.Password)); strings.Join(m.Platforms, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("index platforms %v, want amd64 and arm64 without the attestation", m.Platforms)
	}
	if err := CheckPush(context.Background(), img("site:1", reg.Password)); err != nil {
		t.Errorf("CheckPush with the right password: %v", err)
	}
	var auth *AuthError
	if err := CheckPush(context.Background(), img("site:1", "wrong")); !errors.As(err, &auth) {
		t.Errorf("CheckPush with a wrong password: %v, want an *AuthError", err)
	}
}
