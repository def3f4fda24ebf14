//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runlocal"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/siteimage"
)

// Build builds the site's Docker image: a static linux/amd64 binary, FROM scratch.
//
// It compiles the binary on the host and has the Docker engine (DOCKER_HOST,
// or Docker Desktop, or the default socket) build the image from the
// Dockerfile with a build context made in memory. The image is tagged
// <user>/<IMAGE_NAME>:<git commit> and :latest, with DOCKERHUB_USERNAME as
// the user and DOCKER_REGISTRY in front when it is not docker.io; without
// DOCKERHUB_USERNAME it is tagged <IMAGE_NAME>:<git commit> and :latest, to
// run locally. Changes not committed that can reach the image (see push)
// give the tag <git commit>-dirty and leave latest alone. When nothing
// that goes into the image has changed since the image of this commit was
// built, it does nothing. It prints one line; mage -v shows the engine's
// build log, which is also shown when the build fails.
func Build(ctx context.Context) error {
	vals, err := load(settings.Build)
	if err != nil {
		return err
	}
	return withBuilder(ctx, vals, func(b *siteimage.Builder, info gitinfo.Info) error {
		res, err := b.Build(ctx, info)
		if err == nil {
			fmt.Println(res)
		}
		return err
	})
}

// Push builds the image if needed, then pushes its commit tag and latest to Docker Hub.
//
// The registry is DOCKER_REGISTRY when set. It needs a Docker engine, as
// build does, and DOCKERHUB_USERNAME and DOCKERHUB_PASS (a password or an
// access token), which go to the engine as registry auth only: nothing is
// written to disk or printed.
//
// It refuses a work tree with changes that can reach the image (tracked
// files changed, new files under app/ or new build files such as go.mod):
// only committed code is published. Progress is drawn per layer on a
// terminal and written as plain lines in CI; layers the registry already
// has are not uploaded again. It then reads back what the registry stored, and
// warns when that is not what Heroku takes as it is (deploy converts it).
func Push(ctx context.Context) error {
	vals, err := load(settings.Push)
	if err != nil {
		return err
	}
	return withBuilder(ctx, vals, func(b *siteimage.Builder, info gitinfo.Info) error {
		if info.Dirty {
			return siteimage.ErrDirty
		}
		built, err := b.Build(ctx, info)
		if err != nil {
			return err
		}
		fmt.Println(built)
		pushed, err := b.Push(ctx, built, credentials(vals), os.Stdout)
		if err != nil {
			return err
		}
		if pushed.Warning != "" {
			fmt.Println("warning: " + pushed.Warning)
		}
		fmt.Println(pushed)
		return nil
	})
}

// RunLocal runs the site's image in Docker on http://127.0.0.1:$PORT/ until Ctrl-C.
//
// With DOCKERHUB_USERNAME set it pulls and runs <user>/<IMAGE_NAME>:latest
// from Docker Hub (or DOCKER_REGISTRY; DOCKERHUB_PASS is used when set, for
// a private image), as run_docker.sh always did; without it, it builds the
// image of the work tree (see build) and runs that. It needs a Docker
// engine on this machine.
//
// The port is PORT (default 8000), published on 127.0.0.1 only. SENTRY_DSN
// and SENTRY_ENVIRONMENT are passed to the site when set. It waits for
// /healthz, prints the URL and streams the site's log; Ctrl-C, SIGTERM or a
// closed terminal stops and removes the container. A container that an
// earlier runLocal of this checkout left running (killed with kill -9) is
// removed first, with a line that says so.
func RunLocal(ctx context.Context) error {
	vals, err := load(settings.RunLocal)
	if err != nil {
		return err
	}
	eng, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = eng.Close() }()
	var env []string
	for _, v := range []settings.Var{settings.SentryDSN, settings.SentryEnvironment} {
		if vals.IsSet(v) {
			env = append(env, v.Name+"="+vals.Get(v))
		}
	}
	b := &siteimage.Builder{Engine: eng, Runner: newRunner(), Repository: imageRepository(vals)}
	return runlocal.Main(ctx, eng, runlocal.Options{
		Port: vals.Get(settings.Port),
		Env:  env,
		Out:  os.Stdout,
		Err:  os.Stderr,
		Image: func(ctx context.Context) (string, error) {
			return b.ToRun(ctx, vals.IsSet(settings.DockerHubUser), credentials(vals), os.Stdout)
		},
	})
}

// withBuilder connects to the Docker engine and calls fn with the builder
// of the work tree's image and the work tree's git state.
func withBuilder(ctx context.Context, vals settings.Values, fn func(*siteimage.Builder, gitinfo.Info) error) error {
	eng, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = eng.Close() }()
	b := &siteimage.Builder{Engine: eng, Runner: newRunner(), Repository: imageRepository(vals)}
	info, err := gitinfo.Read(ctx, b.Runner, b.Dir)
	if err != nil {
		return err
	}
	return fn(b, info)
}

// credentials are the registry credentials of the site's image.
func credentials(vals settings.Values) siteimage.Credentials {
	return siteimage.Credentials{User: vals.Get(settings.DockerHubUser), Password: vals.Get(settings.DockerHubPass)}
}
