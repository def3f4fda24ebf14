package herokutest

import (
	"context"
	"sync"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// Images is the fake's view of the registry that stands in for
// registry.heroku.com.
type Images interface {
	// ConfigDigest returns the config digest (sha256:...) of the image
	// <app>/web:latest, or "" or an error when the registry has none.
	ConfigDigest(ctx context.Context, app string) (string, error)
}

// ImageMap is an Images held in memory, for tests without a registry.
// The zero value is empty and ready to use.
type ImageMap struct {
	mu sync.Mutex
	m  map[string]string
}

// Set records that app's repository holds the image whose config digest is
// digest, as a push would.
func (m *ImageMap) Set(app, digest string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]string{}
	}
	m.m[app] = digest
}

// ConfigDigest implements Images.
func (m *ImageMap) ConfigDigest(_ context.Context, app string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[app], nil
}

// Registry is an Images that asks a real registry (the Docker Registry
// HTTP API v2, such as testenv.StartRegistry's) over plain HTTP, with these
// credentials. Like Heroku, it accepts only Docker v2 schema 2 manifests.
type Registry struct {
	Host           string // host:port
	User, Password string
}

// ConfigDigest implements Images. A repository the registry does not hold
// is an error, which the fake treats as an image not pushed.
func (r Registry) ConfigDigest(ctx context.Context, app string) (string, error) {
	reg := testenv.Registry{Host: r.Host, User: r.User, Password: r.Password}
	m, err := reg.Manifest(ctx, app+"/web", "latest")
	if err != nil {
		return "", err
	}
	if m.MediaType != schema2 {
		return "", nil // an OCI index or manifest: Heroku refuses those
	}
	return m.Config.Digest, nil
}

// schema2 is the media type of a Docker v2 schema 2 manifest.
const schema2 = "application/vnd.docker.distribution.manifest.v2+json"
