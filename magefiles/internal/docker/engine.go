// Package docker drives the Docker Engine API through its Go client
// (github.com/moby/moby/client): build the site's image, tag, push and pull
// it with registry credentials passed only as engine registry auth, and run
// it as a container. It works with Docker Desktop, CircleCI's remote Docker
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) and engines as old as
// 20.10 (API 1.41).
package docker

// API CONTRACT (stub): the signatures below are relied on by the deploy and
// doctor packages, which are written at the same time. Implement the bodies;
// keep these names and signatures; add whatever else you need.

import (
	"context"
	"errors"
	"io"
)

var errNotImplemented = errors.New("docker: not implemented yet")

// Engine is a connection to a Docker engine.
type Engine struct{}

// Connect returns an Engine for the engine the environment points at
// (DOCKER_HOST etc., or the default socket), after checking within a few
// seconds that it answers. An unreachable engine gives an error that says so
// and what to do.
func Connect(ctx context.Context) (*Engine, error) { return nil, errNotImplemented }

// Close releases the connection.
func (e *Engine) Close() error { return nil }

// Version describes the engine, for mage doctor.
type Version struct {
	Engine     string // e.g. 20.10.24
	APIVersion string // the negotiated API version, e.g. 1.41
	OS, Arch   string
}

// Version returns what the engine reports about itself.
func (e *Engine) Version(ctx context.Context) (Version, error) { return Version{}, errNotImplemented }

// Auth is a set of registry credentials, sent to the engine as its registry
// auth header only: never written to disk, never on a command line.
type Auth struct {
	Username      string
	Password      string
	ServerAddress string // registry host, e.g. docker.io or registry.heroku.com
}

// Login checks the credentials against the registry through the engine
// (mage doctor's online check). A refusal is an error that names the user
// and the registry, never the password.
func (e *Engine) Login(ctx context.Context, auth Auth) error { return errNotImplemented }

// Push pushes ref (repository:tag) with auth, writing progress to progress,
// and reads the engine's JSON stream to the end: an error inside the stream
// (a wrong password arrives there) is returned as an error.
func (e *Engine) Push(ctx context.Context, ref string, auth Auth, progress io.Writer) error {
	return errNotImplemented
}

// Pull pulls ref with auth, writing progress to progress.
func (e *Engine) Pull(ctx context.Context, ref string, auth Auth, progress io.Writer) error {
	return errNotImplemented
}

// Tag gives the image source the additional name target.
func (e *Engine) Tag(ctx context.Context, source, target string) error { return errNotImplemented }

// ImageID returns the ID of the local image ref, which is the digest of its
// config (sha256:...), the value Heroku's docker-releases API wants.
// found is false when the engine has no such image.
func (e *Engine) ImageID(ctx context.Context, ref string) (id string, found bool, err error) {
	return "", false, errNotImplemented
}
