package docker

import (
	"fmt"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"

	reg "github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

// dockerHubAuthAddress is the server address the engine files Docker Hub
// credentials under.
const dockerHubAuthAddress = "https://index.docker.io/v1/"

// authHeader encodes img's credentials for the engine's X-Registry-Auth
// header (base64url JSON): the only way they reach the engine, never a file
// or a command line. Anonymous access sends an empty configuration, as
// engines refuse a push without the header.
func authHeader(img reg.Image) (string, error) {
	var c registry.AuthConfig
	if img.Password != "" {
		host := reg.HostOf(img.Ref)
		if reg.IsDockerHub(host) {
			host = dockerHubAuthAddress
		}
		c = registry.AuthConfig{Username: img.User, Password: img.Password, ServerAddress: host}
	}
	h, err := authconfig.Encode(c)
	if err != nil {
		return "", fmt.Errorf("encoding the registry credentials for user %s: %w", img.User, err)
	}
	return h, nil
}
