//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/image"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runlocal"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Build builds the site's Docker image: a static linux/amd64 binary in an image FROM scratch.
//
// It compiles the binary on the host and has the Docker engine (DOCKER_HOST,
// or Docker Desktop, or the default socket) build the image from the
// Dockerfile with a build context made in memory. The image is tagged
// <user>/<IMAGE_NAME>:<git commit> and :latest, with DOCKERHUB_USERNAME as
// the user and DOCKER_REGISTRY in front when it is not docker.io; without
// DOCKERHUB_USERNAME it is tagged <IMAGE_NAME>:<git commit> and :latest, to
// run locally. Uncommitted changes give the tag <git commit>-dirty and
// leave latest alone. When nothing that goes into the image has changed
// since the image of this commit was built, it does nothing. It prints one
// line; mage -v shows the engine's build log, which is also shown when the
// build fails.
func Build(ctx context.Context) error {
	eng, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	b, info, err := workTreeBuilder(ctx, eng)
	if err != nil {
		return err
	}
	res, err := b.Build(ctx, info)
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}

// Push builds the image if needed and pushes its commit tag and latest to Docker Hub or DOCKER_REGISTRY.
//
// It needs a Docker engine, as build does, and DOCKERHUB_USERNAME and
// DOCKERHUB_PASS (a password or an access token), which go to the engine as
// registry auth only: nothing is written to disk or printed. It refuses a work tree with uncommitted
// changes: only committed code is published. Progress is drawn per layer on
// a terminal and written as plain lines in CI; layers the registry already
// has are not uploaded again.
func Push(ctx context.Context) error {
	if err := settings.Require(settings.OS, settings.DockerHubUser, settings.DockerHubPass); err != nil {
		return err
	}
	eng, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	b, info, err := workTreeBuilder(ctx, eng)
	if err != nil {
		return err
	}
	if info.Dirty {
		return image.ErrDirty
	}
	built, err := b.Build(ctx, info)
	if err != nil {
		return err
	}
	fmt.Println(built)
	pushed, err := b.Push(ctx, built, image.AuthFromEnv(settings.OS), os.Stdout)
	if err != nil {
		return err
	}
	fmt.Println(pushed)
	return nil
}

// RunLocal runs the site's image in Docker on http://127.0.0.1:$PORT/ until Ctrl-C, then removes the container.
//
// With DOCKERHUB_USERNAME set it pulls and runs <user>/<IMAGE_NAME>:latest
// from Docker Hub (or DOCKER_REGISTRY; DOCKERHUB_PASS is used when set, for
// a private image), as run_docker.sh always did; without it, it builds the
// image of the work tree (see build) and runs that. It needs a Docker
// engine on this machine. The port is PORT (default 8000), published on
// 127.0.0.1 only. SENTRY_DSN and SENTRY_ENVIRONMENT are passed to the site
// when set. It waits for /healthz, prints the URL and streams the site's
// log; Ctrl-C or SIGTERM stops and removes the container.
func RunLocal(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM) // mage itself handles only Ctrl-C
	defer stop()
	ctx, stopWatching := runlocal.WithParent(ctx) // SIGTERM to mage alone ends mage, not this process
	defer stopWatching()
	// Once mage has exited, whatever read its output may close it: writing
	// the site's last lines must fail quietly, not end the clean-up.
	signal.Ignore(syscall.SIGPIPE)
	port, err := runlocal.ParsePort(settings.Port.Get(settings.OS))
	if err != nil {
		return err
	}
	eng, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	if eng.IsLocal() {
		if err := runlocal.CheckPort(ctx, port); err != nil {
			return err
		}
	}
	ref, err := newImageBuilder(eng).ToRun(ctx, image.AuthFromEnv(settings.OS), os.Stdout)
	if err != nil {
		return err
	}
	return runlocal.Run(ctx, eng, runlocal.Options{Image: ref, Port: port, Env: runlocal.SiteEnv(settings.OS)})
}

// workTreeBuilder returns the builder of the work tree's image on eng, and
// the work tree's git state: what build and push start from.
func workTreeBuilder(ctx context.Context, eng *docker.Engine) (*image.Builder, gitinfo.Info, error) {
	b := newImageBuilder(eng)
	info, err := gitinfo.Read(ctx, b.Runner, b.Dir)
	return b, info, err
}

// newImageBuilder returns the builder of the work tree's image on eng,
// where the environment says the image lives.
func newImageBuilder(eng *docker.Engine) *image.Builder {
	return &image.Builder{Engine: eng, Runner: newRunner(), Where: image.WhereFromEnv(settings.OS)}
}
