// Package registry names the site's images and talks to container
// registries directly, with no Docker engine (through
// github.com/google/go-containerregistry): it copies an image from one
// registry to another, rewritten on the way into what the target platform
// accepts, reads back what a manifest holds, and checks credentials.
//
// Credentials go only into the registry's own authentication exchange:
// never to disk, never on a command line, never into an error message.
package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DockerHub is the registry images go to unless DOCKER_REGISTRY says
// otherwise.
const DockerHub = "docker.io"

// Repository returns the image repository for user and name on host:
// "alice/oc-lettings" on Docker Hub (whose name is left out, as usual),
// "ghcr.io/alice/oc-lettings" elsewhere, and just name without a user (a
// local image, for a newcomer without an account).
func Repository(host, user, name string) string {
	switch {
	case user == "":
		return name
	case IsDockerHub(host):
		return user + "/" + name
	default:
		return host + "/" + user + "/" + name
	}
}

// IsDockerHub reports whether host is Docker Hub, under any of its names.
func IsDockerHub(host string) bool {
	switch strings.ToLower(host) {
	case "", DockerHub, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return true
	}
	return false
}

// Describe is how messages name a registry: "Docker Hub" or "the registry
// ghcr.io".
func Describe(host string) string {
	if IsDockerHub(host) {
		return "Docker Hub"
	}
	return "the registry " + host
}

// HostOf returns the registry host of an image reference: docker.io for
// "alice/oc-lettings:1", ghcr.io for "ghcr.io/alice/oc-lettings:1".
func HostOf(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return DockerHub
	}
	if host := r.Context().RegistryStr(); host != name.DefaultRegistry {
		return host
	}
	return DockerHub
}

// An Image is an image in a registry and the credentials to reach it.
type Image struct {
	Ref      string // repository:tag or repository@digest
	User     string // empty, with Password, for anonymous access
	Password string
}

func (i Image) auth() authn.Authenticator {
	if i.Password == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: i.User, Password: i.Password}
}

func (i Image) user() string {
	if i.Password == "" {
		return ""
	}
	return i.User
}

// AuthError reports a registry that refused the credentials, or access
// without them. Callers add which settings to check.
type AuthError struct {
	Registry string // host
	User     string // empty for anonymous access
	Err      error
}

func (e *AuthError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("%s refused access without credentials", Describe(e.Registry))
	}
	return fmt.Sprintf("%s refused the credentials for user %s", Describe(e.Registry), e.User)
}

func (e *AuthError) Unwrap() error { return e.Err }

// NotFoundError reports an image the registry does not have.
type NotFoundError struct {
	Ref string
	Err error
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("there is no image %s", e.Ref) }

func (e *NotFoundError) Unwrap() error { return e.Err }

// Classify turns a registry's refusal into an *AuthError or a
// *NotFoundError, from its HTTP status or from its words (the Docker
// engine passes only the words on); other errors are returned as they are.
func Classify(err error, img Image) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	status := 0
	if errors.As(err, &te) {
		status = te.StatusCode
	}
	msg := strings.ToLower(err.Error())
	switch {
	case status == http.StatusNotFound || containsAny(msg, "manifest unknown", "not found", "name unknown",
		"repository does not exist", "no such image", "does not exist locally"):
		return &NotFoundError{Ref: img.Ref, Err: err}
	case status == http.StatusUnauthorized || status == http.StatusForbidden || containsAny(msg, "unauthorized",
		"authentication required", "denied", "incorrect username or password", "no basic auth credentials"):
		return &AuthError{Registry: HostOf(img.Ref), User: img.user(), Err: err}
	}
	return err
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
