package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/buildcontext"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// BinaryName is the binary's name in the build context, the name the
// Dockerfile copies.
const BinaryName = "oc-lettings"

// Builder builds the site's image.
type Builder struct {
	Engine *docker.Engine
	// Runner runs go and git. Its Out, Verbose and Redactor apply to the
	// engine's build log too: shown live when verbose, else on failure.
	Runner *runner.Runner
	Dir    string // repository root; empty means the current directory
	Where  Where
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
	return fmt.Sprintf("%s %s (%s, %s, %s) in %s", verb, r.Names.Commit, docker.ShortID(r.Image.ID),
		units.HumanSizeWithPrecision(float64(r.Image.Size), 3), r.Image.Platform(), r.Took.Round(time.Millisecond))
}

// Build makes the image of info's work tree and tags it (see Names), unless
// an image with the same fingerprint is already tagged for this commit, in
// which case it only makes sure the latest tag points at it.
func (b *Builder) Build(ctx context.Context, info gitinfo.Info) (Result, error) {
	start := time.Now()
	names := b.Where.NamesFor(info)
	dir := b.Dir
	if dir == "" {
		dir = "."
	}
	text, err := os.ReadFile(filepath.Join(dir, buildcontext.DockerfileName))
	if err != nil {
		return Result{}, fmt.Errorf("reading the Dockerfile (run mage from the repository root): %w", err)
	}
	dockerfile, err := buildcontext.Parse(text)
	if err != nil {
		return Result{}, err
	}
	args := buildArgs(info, dockerfile.Args)
	compile := gobuild.Options{
		Output:  filepath.Join("bin", "image", BinaryName),
		Version: info.Version,
		Commit:  info.Commit,
		GOOS:    "linux",
		GOARCH:  "amd64",
		Static:  true,
		Dir:     b.Dir,
	}
	fingerprint, err := Fingerprint(ctx, b.Runner, dir, recipe(compile, args), text)
	if err != nil {
		return Result{}, err
	}

	old, found, err := b.Engine.Image(ctx, names.Commit)
	if err != nil {
		return Result{}, err
	}
	if found && old.Labels[FingerprintLabel] == fingerprint && old.Platform() == Platform {
		if err := b.tagLatest(ctx, old.ID, names.Latest); err != nil {
			return Result{}, err
		}
		return Result{Names: names, Image: old, UpToDate: true, Took: time.Since(start)}, nil
	}

	if err := gobuild.Build(ctx, b.Runner, compile); err != nil {
		return Result{}, err
	}
	buildCtx, err := buildcontext.Make(dockerfile, dir, map[string]string{BinaryName: filepath.Join(dir, compile.Output)})
	if err != nil {
		return Result{}, err
	}
	opts := docker.BuildOptions{
		Tags:      names.Tags(),
		BuildArgs: args,
		Labels:    map[string]string{FingerprintLabel: fingerprint},
		Platform:  Platform,
	}
	img, err := b.build(ctx, buildCtx, opts)
	if err == nil && img.Platform() != Platform {
		// The classic builder's cache does not tell platforms apart: a
		// step cached from another platform's build must be redone.
		opts.NoCache = true
		img, err = b.build(ctx, buildCtx, opts)
	}
	if err != nil {
		return Result{}, err
	}
	if img.Platform() != Platform {
		return Result{}, fmt.Errorf("the Docker engine built a %s image, not %s: update Docker, or build on an amd64 machine", img.Platform(), Platform)
	}
	if replaced := old.ID; replaced != "" && replaced != img.ID {
		// Rebuilding a dirty work tree moves its tag: without this, every
		// edit-and-build would leave an unnamed image behind.
		if err := b.Engine.RemoveUntagged(ctx, replaced); err != nil {
			return Result{}, err
		}
	}
	return Result{Names: names, Image: img, Took: time.Since(start)}, nil
}

// build runs one engine build, showing its log live when verbose and in
// full when it fails, and returns the image it made.
func (b *Builder) build(ctx context.Context, buildCtx []byte, opts docker.BuildOptions) (docker.Image, error) {
	out := io.Writer(os.Stdout)
	if b.Runner.Out != nil {
		out = b.Runner.Out
	}
	shown := b.Runner.Redactor.Writer(out)
	defer func() { _ = shown.Close() }()
	var log bytes.Buffer
	opts.Log = &log
	if b.Runner.Verbose {
		opts.Log = shown
	}
	opts.Context = bytes.NewReader(buildCtx)
	id, err := b.Engine.Build(ctx, opts)
	if err != nil {
		_, _ = shown.Write(log.Bytes())
		return docker.Image{}, b.Runner.Redactor.Error(err)
	}
	img, found, err := b.Engine.Image(ctx, id)
	if err != nil {
		return docker.Image{}, err
	}
	if !found {
		return docker.Image{}, fmt.Errorf("the image %s the Docker engine just built has gone", id)
	}
	return img, nil
}

// tagLatest points latest at id, unless it already does or latest is empty
// (a dirty work tree).
func (b *Builder) tagLatest(ctx context.Context, id, latest string) error {
	if latest == "" {
		return nil
	}
	current, found, err := b.Engine.ImageID(ctx, latest)
	if err != nil || (found && current == id) {
		return err
	}
	return b.Engine.Tag(ctx, id, latest)
}

// buildArgs returns the values mage gives the Dockerfile's ARGs: what git
// says about the commit, for the OCI labels. Only ARGs the Dockerfile
// declares are passed, and only non-empty values, so its defaults apply
// otherwise. Nothing from the environment is passed: no secret can reach
// the image this way.
func buildArgs(info gitinfo.Info, declared []string) map[string]string {
	all := map[string]string{
		"VERSION":  info.Version,
		"REVISION": info.Commit,
		"SOURCE":   info.Source,
	}
	if !info.Time.IsZero() {
		all["CREATED"] = info.Time.UTC().Format(time.RFC3339)
	}
	args := map[string]string{}
	for name, value := range all {
		if value != "" && slices.Contains(declared, name) {
			args[name] = value
		}
	}
	return args
}

// recipe describes how the image is made, for the fingerprint.
func recipe(compile gobuild.Options, args map[string]string) string {
	cmd := gobuild.Command(compile)
	lines := []string{
		"platform " + Platform,
		"toolchain " + runtime.Version(),
		"compile " + cmd.String() + " " + strings.Join(cmd.Env, " "),
	}
	for _, name := range slices.Sorted(maps.Keys(args)) {
		lines = append(lines, "arg "+name+"="+args[name])
	}
	return strings.Join(lines, "\n")
}
