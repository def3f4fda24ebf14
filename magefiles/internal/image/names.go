// Package image builds, names and publishes the site's container image:
// the logic behind mage build, mage push and mage runLocal.
//
// A build compiles a static linux/amd64 binary on the host, packs it with
// the Dockerfile into a build context made in memory, and has the Docker
// engine build the image from it. A fingerprint of everything that goes
// into the image (the Go sources and embedded files the binary is compiled
// from, go.mod and go.sum, the Dockerfile, the version stamped in) is kept
// in a label, so a build whose image already exists does no work at all.
//
// Images are tagged with the git commit and latest. A work tree with
// uncommitted changes gives the tag <commit>-dirty and never latest, and
// cannot be pushed.
package image

import (
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Platform is the only platform the image is built for: Heroku runs
// linux/amd64, whatever the laptop that builds it.
const Platform = "linux/amd64"

// Where describes where the image lives.
type Where struct {
	Registry string // DOCKER_REGISTRY, default docker.io
	User     string // DOCKERHUB_USERNAME; empty for a local image
	Name     string // IMAGE_NAME, default oc-lettings
}

// WhereFromEnv reads DOCKER_REGISTRY, DOCKERHUB_USERNAME and IMAGE_NAME.
func WhereFromEnv(env settings.Env) Where {
	return Where{
		Registry: settings.DockerRegistry.Get(env),
		User:     settings.DockerHubUser.Get(env),
		Name:     settings.ImageName.Get(env),
	}
}

// Repository is the image's repository: alice/oc-lettings on Docker Hub,
// ghcr.io/alice/oc-lettings elsewhere, oc-lettings without an account.
func (w Where) Repository() string { return docker.Repository(w.Registry, w.User, w.Name) }

// Names are the references an image is known by.
type Names struct {
	Commit string // <repository>:<commit>, or <repository>:<commit>-dirty
	Latest string // <repository>:latest; empty for a dirty work tree
}

// Tags returns every name, the commit first.
func (n Names) Tags() []string {
	if n.Latest == "" {
		return []string{n.Commit}
	}
	return []string{n.Commit, n.Latest}
}

// CommitTag is the tag of the image of info's work tree: the full commit
// hash, with -dirty added when the work tree has uncommitted changes.
func CommitTag(info gitinfo.Info) string {
	if info.Dirty {
		return info.Commit + "-dirty"
	}
	return info.Commit
}

// NamesFor returns the names of the image of info's work tree.
func (w Where) NamesFor(info gitinfo.Info) Names {
	repo := w.Repository()
	n := Names{Commit: docker.Ref(repo, CommitTag(info))}
	if !info.Dirty {
		n.Latest = docker.Ref(repo, "latest")
	}
	return n
}
