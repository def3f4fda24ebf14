package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

// Auth is a set of registry credentials, sent to the engine as its registry
// auth header only: never written to disk, never on a command line.
type Auth struct {
	Username      string
	Password      string
	ServerAddress string // registry host, e.g. docker.io or registry.heroku.com
}

// anonymous reports whether a has no password to send: a user name alone
// cannot log in, so the request goes without credentials.
func (a Auth) anonymous() bool { return a.Password == "" }

// config is a's form in the Engine API. Docker Hub's credentials are filed
// under https://index.docker.io/v1/, every other registry's under its host.
func (a Auth) config() registry.AuthConfig {
	address := registryHost(a.ServerAddress)
	if IsDockerHub(a.ServerAddress) {
		address = dockerHubAuthAddress
	}
	return registry.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: address}
}

// header returns a encoded for the X-Registry-Auth header (base64url JSON).
// Anonymous access sends an empty configuration: engines refuse a push
// without the header.
func (a Auth) header() (string, error) {
	c := a.config()
	if a.anonymous() {
		c = registry.AuthConfig{}
	}
	h, err := authconfig.Encode(c)
	if err != nil {
		return "", fmt.Errorf("encoding the registry credentials for user %s: %w", a.Username, err)
	}
	return h, nil
}

// redactor masks the password in anything the engine or registry says.
func (a Auth) redactor() *redact.Redactor { return redact.New(a.Password) }

// Login checks the credentials against the registry through the engine
// (mage doctor's online check). A refusal is an error that names the user
// and the registry, never the password.
func (e *Engine) Login(ctx context.Context, auth Auth) error {
	c := auth.config()
	_, err := e.cli.RegistryLogin(ctx, client.RegistryLoginOptions{
		Username: c.Username, Password: c.Password, ServerAddress: c.ServerAddress,
	})
	if err == nil {
		return nil
	}
	if cerrdefs.IsUnauthorized(err) || isAuthFailure(err.Error()) {
		return &AuthError{Registry: auth.ServerAddress, User: auth.Username, Err: auth.redactor().Error(err)}
	}
	return auth.redactor().Error(fmt.Errorf("logging in to %s as %s through the Docker engine: %w",
		registryName(auth.ServerAddress), auth.Username, err))
}

// AuthError reports a registry that refused the credentials. Its message
// names the registry and the user; callers add which settings to check.
type AuthError struct {
	Registry string // as given, e.g. docker.io
	User     string
	Err      error // what the engine said, with the password masked
}

func (e *AuthError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("%s refused access without credentials", registryName(e.Registry))
	}
	return fmt.Sprintf("%s refused the credentials for user %s", registryName(e.Registry), e.User)
}

func (e *AuthError) Unwrap() error { return e.Err }

// NotFoundError reports an image that is neither in the engine nor in the
// registry it was asked for.
type NotFoundError struct {
	Ref string
	Err error
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("there is no image %s", e.Ref) }

func (e *NotFoundError) Unwrap() error { return e.Err }

// isAuthFailure reports whether an engine or registry message means the
// credentials were refused or missing.
func isAuthFailure(msg string) bool {
	return containsAny(strings.ToLower(msg),
		"unauthorized", "authentication required", "denied", "incorrect username or password",
		"no basic auth credentials", "401 unauthorized", "authentication failed")
}

// isNotFound reports whether a registry message means the image is not there.
func isNotFound(msg string) bool {
	return containsAny(strings.ToLower(msg),
		"manifest unknown", "not found", "repository does not exist", "no such image", "name unknown",
		"does not exist locally")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
