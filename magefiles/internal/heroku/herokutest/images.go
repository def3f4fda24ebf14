package herokutest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// Images is the fake's view of the registry that stands in for
// registry.heroku.com.
type Images interface {
	// ConfigDigest returns the config digest (sha256:...) of the image
	// <app>/web:latest, or "" when the registry has none.
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
// HTTP API v2, such as testenv.StartRegistry's) over plain HTTP. Like
// Heroku, it accepts only Docker v2 schema 2 manifests.
type Registry struct {
	Host           string // host:port
	User, Password string
}

// ConfigDigest implements Images.
func (r Registry) ConfigDigest(ctx context.Context, app string) (string, error) {
	url := fmt.Sprintf("http://%s/v2/%s/web/manifests/latest", r.Host, app)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Accept", schema2)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("registry answered %s for %s/web:latest", resp.Status, app)
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return "", err
	}
	if m.MediaType != schema2 {
		return "", nil // an OCI index or manifest: Heroku refuses those
	}
	return m.Config.Digest, nil
}

// schema2 is the media type of a Docker v2 schema 2 manifest.
const schema2 = "application/vnd.docker.distribution.manifest.v2+json"
