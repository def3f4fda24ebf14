// Package docker drives the Docker Engine API through its Go client
// (github.com/moby/moby/client): build the site's image, tag, push and pull
// it with registry credentials passed only as engine registry auth, and run
// it as a container. It works with Docker Desktop, CircleCI's remote Docker
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) and engines as old as
// 20.10 (API 1.41).
//
// Every long operation (build, push, pull) reads the engine's JSON message
// stream to its end, because the engine reports failures such as a refused
// password inside that stream, not as the API call's error.
package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ConnectTimeout bounds how long Connect waits for the engine to answer.
const ConnectTimeout = 5 * time.Second

// Engine is a connection to a Docker engine.
type Engine struct {
	cli *client.Client
}

// Connect returns an Engine for the engine the environment points at
// (DOCKER_HOST etc., or the default socket), after checking within a few
// seconds that it answers. An unreachable engine gives an error that says so
// and what to do.
func Connect(ctx context.Context) (*Engine, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("the Docker engine settings are invalid: %w; fix or unset DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	if _, err := cli.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, &UnreachableError{Host: cli.DaemonHost(), Err: err}
	}
	return &Engine{cli: cli}, nil
}

// Close releases the connection.
func (e *Engine) Close() error { return e.cli.Close() }

// Host returns the address of the engine, such as unix:///var/run/docker.sock.
func (e *Engine) Host() string { return e.cli.DaemonHost() }

// IsLocal reports whether the engine runs on this machine (a unix socket or
// a Windows named pipe), so that the ports it publishes are this machine's.
func (e *Engine) IsLocal() bool {
	h := e.Host()
	return strings.HasPrefix(h, "unix://") || strings.HasPrefix(h, "npipe://")
}

// Version describes the engine, for mage doctor.
type Version struct {
	Engine     string // e.g. 20.10.24
	APIVersion string // the negotiated API version, e.g. 1.41
	OS, Arch   string
}

// Version returns what the engine reports about itself.
func (e *Engine) Version(ctx context.Context) (Version, error) {
	v, err := e.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Version{}, fmt.Errorf("asking the Docker engine at %s for its version: %w", e.Host(), err)
	}
	return Version{Engine: v.Version, APIVersion: e.cli.ClientVersion(), OS: v.Os, Arch: v.Arch}, nil
}

// UnreachableError reports an engine that did not answer.
type UnreachableError struct {
	Host string // where the engine was looked for
	Err  error
}

func (e *UnreachableError) Error() string {
	reason := e.Err.Error()
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		reason = fmt.Sprintf("no answer within %s", ConnectTimeout)
	case strings.HasPrefix(reason, "Cannot connect to the Docker daemon"):
		// The client's words for a refused or timed-out connection.
		reason = "nothing answers there"
	case strings.Contains(reason, "permission denied"):
		reason += "; add your user to the docker group, or use sudo"
	}
	return fmt.Sprintf("cannot reach the Docker engine at %s (%s): start Docker Desktop or dockerd "+
		"(on Debian or Ubuntu: sudo .ci/start-dockerd), or point DOCKER_HOST at a running engine", e.Host, reason)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
