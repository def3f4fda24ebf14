package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// sites holds the images Site made, by version and commit: each is built
// once per test binary.
var sites sync.Map

// Site returns an image like mage build's, without an engine: the site's
// static linux/amd64 binary, stamped with version and commit, alone in a
// layer, run as mage build's image runs it. Its /healthz reports them.
func Site(t testing.TB, version, commit string) v1.Image {
	t.Helper()
	key := version + "@" + commit
	if img, ok := sites.Load(key); ok {
		return img.(v1.Image)
	}
	bin := filepath.Join(t.TempDir(), "oc-lettings")
	err := gobuild.Build(context.Background(), &runner.Runner{Out: io.Discard}, gobuild.Options{
		Output: bin, Version: version, Commit: commit, GOOS: "linux", GOARCH: "amd64", Static: true, Dir: Root(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "oc-lettings", Mode: 0o755, Size: int64(len(data))})
	_, _ = tw.Write(data)
	_ = tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.DockerManifestSchema2), types.DockerConfigJSON), layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint, cf.Config.User = []string{"/oc-lettings"}, "65532:65532"
	cf.Config.ExposedPorts = map[string]struct{}{"8000/tcp": {}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	sites.Store(key, img)
	return img
}
