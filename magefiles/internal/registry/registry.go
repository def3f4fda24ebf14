// Package registry names the site's images and talks to container
// registries with no Docker engine, through go-containerregistry: it copies
// an image between registries, rewritten into what the target platform
// accepts, reads what a manifest holds, and checks credentials. Credentials
// go only into the registry's authentication exchange: never to disk, a
// command line or an error message.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DockerHub is the registry images go to unless DOCKER_REGISTRY says otherwise.
const DockerHub = "docker.io"

// Repository returns the image repository for user and name on host:
// "alice/oc-lettings" on Docker Hub, "ghcr.io/alice/oc-lettings" elsewhere,
// and name alone without a user (a local image).
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

// Describe is how messages name a registry: "Docker Hub" or "the registry ghcr.io".
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
	if err != nil || r.Context().RegistryStr() == name.DefaultRegistry {
		return DockerHub
	}
	return r.Context().RegistryStr()
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
	status := 0
	if te, ok := errors.AsType[*transport.Error](err); ok {
		status = te.StatusCode
	}
	msg := strings.ToLower(err.Error())
	switch {
	case status == http.StatusNotFound || containsAny(msg, "manifest unknown", "not found", "name unknown",
		"repository does not exist", "no such image", "does not exist locally"):
		return &NotFoundError{Ref: img.Ref, Err: err}
	case status == http.StatusUnauthorized || status == http.StatusForbidden || containsAny(msg, "unauthorized",
		"authentication required", "denied", "incorrect username or password", "no basic auth credentials"):
		refused := &AuthError{Registry: HostOf(img.Ref), Err: err}
		if img.Password != "" {
			refused.User = img.User
		}
		return refused
	}
	return err
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}

// CheckPush checks that img's credentials may push to its repository,
// without pushing anything, and returns an *AuthError when they may not.
func CheckPush(ctx context.Context, img Image) error {
	ref, err := name.ParseReference(img.Ref)
	if err != nil {
		return err
	}
	err = remote.CheckPushPermission(ref, keychain{img.auth()}, withContext{ctx, remote.DefaultTransport})
	return Classify(err, img)
}

// keychain gives the same credentials for every registry.
type keychain struct{ auth authn.Authenticator }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// withContext sends every request with ctx, so that a call which takes no
// context still ends with it.
type withContext struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t withContext) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
