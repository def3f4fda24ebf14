// Package siteimage builds, names and publishes the site's container
// image: the logic behind mage build, mage push and mage runLocal.
//
// A build compiles a static linux/amd64 binary on the host, packs it with
// the Dockerfile into a build context made in memory (nothing else of the
// checkout, such as an .env file, can reach the engine), and has the Docker
// engine build the image. A fingerprint of everything that goes into the
// image (the Go sources and embedded files the binary is compiled from,
// go.mod and go.sum, the Dockerfile, the version stamped in) is kept in a
// label, so a build whose image already exists does no work at all.
//
// Images are tagged with the git commit and latest. A work tree with
// uncommitted changes gives the tag <commit>-dirty and never latest, and
// cannot be pushed.
package siteimage

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Engine is what a Builder needs of a Docker engine; *docker.Engine is one.
type Engine interface {
	Build(ctx context.Context, o docker.BuildOptions) (docker.Image, error)
	Image(ctx context.Context, ref string) (docker.Image, bool, error)
	Tag(ctx context.Context, source, target string) error
	RemoveUntagged(ctx context.Context, id string) error
	Push(ctx context.Context, img registry.Image, progress io.Writer) (docker.PushResult, error)
	Pull(ctx context.Context, img registry.Image, progress io.Writer) error
}

// Builder builds, pushes and pulls the site's image.
type Builder struct {
	Engine Engine
	// Runner runs go and git, and shows the engine's build log as it shows
	// theirs: live when verbose, else only when the build fails.
	Runner     *runner.Runner
	Dir        string // repository root; empty means the current directory
	Repository string // e.g. alice/oc-lettings (see registry.Repository)
}

// binaryName is the binary's name in the build context, as the Dockerfile copies it.
const binaryName = "oc-lettings"

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

// NamesFor returns the names of the image of info's work tree in repo: the
// full commit hash as its tag, with -dirty added when the work tree has
// uncommitted changes, and latest only when it has none.
func NamesFor(repo string, info gitinfo.Info) Names {
	if info.Dirty {
		return Names{Commit: repo + ":" + info.Commit + "-dirty"}
	}
	return Names{Commit: repo + ":" + info.Commit, Latest: repo + ":latest"}
}

// Result tells what Build did.
type Result struct {
	Names    Names
	Image    docker.Image
	UpToDate bool // the image existed already: nothing was compiled or built
	Took     time.Duration
}

// String is the one line mage build prints.
func (r Result) String() string {
	verb := "built"
	if r.UpToDate {
		verb = "up to date:"
	}
	id := r.Image.ID
	if len(id) > len("sha256:")+12 {
		id = id[:len("sha256:")+12] // as docker images shows it
	}
	return fmt.Sprintf("%s %s (%s, %s, %s) in %s", verb, r.Names.Commit, id,
		units.HumanSizeWithPrecision(float64(r.Image.Size), 3), r.Image.Platform(), r.Took.Round(time.Millisecond))
}

// Build makes the image of info's work tree and tags it (see NamesFor),
// unless an image with the same fingerprint is already tagged for this
// commit, in which case it only makes sure latest points at it.
func (b *Builder) Build(ctx context.Context, info gitinfo.Info) (Result, error) {
	start := time.Now()
	names := NamesFor(b.Repository, info)
	dir := cmp.Or(b.Dir, ".")
	dockerfile, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return Result{}, fmt.Errorf("reading the Dockerfile (run mage from the repository root): %w", err)
	}
	args := buildArgs(info)
	compile := gobuild.Options{
		Output:  filepath.Join("bin", "image", binaryName),
		Version: info.Version, Commit: info.Commit,
		GOOS: "linux", GOARCH: "amd64", Static: true, Dir: b.Dir,
	}
	fingerprint, err := Fingerprint(ctx, b.Runner, dir, recipe(compile, args), dockerfile)
	if err != nil {
		return Result{}, err
	}

	old, found, err := b.Engine.Image(ctx, names.Commit)
	if err != nil {
		return Result{}, err
	}
	if found && old.Labels[FingerprintLabel] == fingerprint && old.Platform() == registry.Platform {
		if names.Latest != "" {
			if err := b.Engine.Tag(ctx, old.ID, names.Latest); err != nil {
				return Result{}, err
			}
		}
		return Result{Names: names, Image: old, UpToDate: true, Took: time.Since(start)}, nil
	}

	if err := gobuild.Build(ctx, b.Runner, compile); err != nil {
		return Result{}, err
	}
	binary, err := os.ReadFile(filepath.Join(dir, compile.Output))
	if err != nil {
		return Result{}, err
	}
	opts := docker.BuildOptions{
		Tags:      names.Tags(),
		BuildArgs: args,
		Labels:    map[string]string{FingerprintLabel: fingerprint},
	}
	img, err := b.build(ctx, opts, dockerfile, binary)
	if err == nil && img.Platform() != registry.Platform {
		// The classic builder's cache does not tell platforms apart: a
		// step cached from another platform's build must be redone.
		opts.NoCache = true
		img, err = b.build(ctx, opts, dockerfile, binary)
	}
	if err != nil {
		return Result{}, err
	}
	if img.Platform() != registry.Platform {
		return Result{}, fmt.Errorf("the Docker engine built a %s image, not %s: update Docker, or build on an amd64 machine", img.Platform(), registry.Platform)
	}
	// What the tag names now is the result: another build of the same
	// commit may have finished meanwhile and taken it. The image that lost
	// its name, this build's or the one the tag named before, goes.
	tagged, _, err := b.Engine.Image(ctx, names.Commit)
	if err != nil {
		return Result{}, err
	}
	for _, id := range []string{img.ID, old.ID} {
		if id != "" && id != tagged.ID {
			if err := b.Engine.RemoveUntagged(ctx, id); err != nil {
				return Result{}, err
			}
		}
	}
	return Result{Names: names, Image: tagged, Took: time.Since(start)}, nil
}

// build runs one engine build of the Dockerfile and the binary, its log
// shown as the runner shows a child's, and returns the image it made.
func (b *Builder) build(ctx context.Context, opts docker.BuildOptions, dockerfile, binary []byte) (docker.Image, error) {
	opts.Context = docker.BinaryContext(dockerfile, binaryName, binary)
	var img docker.Image
	err := b.Runner.Capture(func(log io.Writer) (err error) {
		opts.Log = log
		img, err = b.Engine.Build(ctx, opts)
		return err
	})
	return img, err
}

// buildArgs returns the values mage gives the Dockerfile's ARGs: what git
// says about the commit, for the OCI labels. Empty values are left out, so
// the Dockerfile's defaults apply. Nothing from the environment is passed:
// no secret can reach the image this way.
func buildArgs(info gitinfo.Info) map[string]string {
	args := map[string]string{"VERSION": info.Version, "REVISION": info.Commit, "SOURCE": info.Source}
	if !info.Time.IsZero() {
		args["CREATED"] = info.Time.UTC().Format(time.RFC3339)
	}
	maps.DeleteFunc(args, func(_, value string) bool { return value == "" })
	return args
}

// recipe describes how the image is made, for the fingerprint.
func recipe(compile gobuild.Options, args map[string]string) string {
	cmd := gobuild.Command(compile)
	lines := []string{
		"platform " + registry.Platform,
		"toolchain " + runtime.Version(),
		"compile " + cmd.String() + " " + strings.Join(cmd.Env, " "),
	}
	for _, name := range []string{"CREATED", "REVISION", "SOURCE", "VERSION"} {
		lines = append(lines, "arg "+name+"="+args[name])
	}
	return strings.Join(lines, "\n")
}
