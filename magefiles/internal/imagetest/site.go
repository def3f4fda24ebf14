package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
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
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	_ = tw.WriteHeader(&tar.Header{Name: "oc-lettings", Mode: 0o755, Size: int64(len(data))})
	_, _ = tw.Write(data)
	_ = tw.Close()
	compressed := gzipFast(t, tarball.Bytes())
	digest, _, _ := v1.SHA256(bytes.NewReader(compressed))
	diffID, _, _ := v1.SHA256(bytes.NewReader(tarball.Bytes()))
	layer, err := partial.CompressedToLayer(gzipped{compressed, digest, diffID})
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

// gzipFast compresses data once, with the gzip program when there is one:
// under the race detector compress/gzip takes seconds for the binary.
func gzipFast(t testing.TB, data []byte) []byte {
	var out bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "gzip", "-1", "-n", "-c")
	cmd.Stdin, cmd.Stdout = bytes.NewReader(data), &out
	if cmd.Run() == nil {
		return out.Bytes()
	}
	out.Reset()
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err == nil {
		_, err = zw.Write(data)
	}
	if err = errors.Join(err, zw.Close()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// gzipped is a compressed layer whose digests are known, so that nothing
// decompresses it to learn them.
type gzipped struct {
	data           []byte
	digest, diffID v1.Hash
}

func (l gzipped) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l gzipped) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l gzipped) Size() (int64, error)                { return int64(len(l.data)), nil }
func (l gzipped) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l gzipped) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}
