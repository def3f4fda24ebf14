package siteimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestNames(t *testing.T) {
	tests := []struct {
		repo       string
		dirty      bool
		wantCommit string
		wantLatest string
	}{
		{"alice/oc-lettings", false, "alice/oc-lettings:" + sha, "alice/oc-lettings:latest"},
		{"ghcr.io/alice/oc-lettings", false, "ghcr.io/alice/oc-lettings:" + sha, "ghcr.io/alice/oc-lettings:latest"},
		{"alice/oc-lettings", true, "alice/oc-lettings:" + sha + "-dirty", ""},
	}
	for _, tt := range tests {
		n := NamesFor(tt.repo, gitinfo.Info{Commit: sha, Dirty: tt.dirty})
		if n.Commit != tt.wantCommit || n.Latest != tt.wantLatest {
			t.Errorf("%s dirty=%v: %+v, want %s and %q", tt.repo, tt.dirty, n, tt.wantCommit, tt.wantLatest)
		}
		if want := len(strings.Fields(tt.wantCommit + " " + tt.wantLatest)); len(n.Tags()) != want {
			t.Errorf("Tags() = %q", n.Tags())
		}
	}
}

func TestBuildArgs(t *testing.T) {
	info := gitinfo.Info{
		Commit: sha, Version: "v1.2.0-3-g0123456", Source: "https://github.com/oc/site",
		Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600)),
	}
	want := map[string]string{
		"VERSION": "v1.2.0-3-g0123456", "REVISION": sha, "SOURCE": "https://github.com/oc/site",
		"CREATED": "2024-05-06T05:08:09Z",
	}
	if got := buildArgs(info); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("buildArgs = %v, want %v", got, want)
	}
	// Empty values are left out, so the Dockerfile's defaults apply.
	if got := buildArgs(gitinfo.Info{Commit: sha}); fmt.Sprint(got) != fmt.Sprint(map[string]string{"REVISION": sha}) {
		t.Errorf("buildArgs without source and time = %v", got)
	}
}

func TestResultString(t *testing.T) {
	r := Result{
		Names: Names{Commit: "alice/oc-lettings:" + sha},
		Image: docker.Image{ID: "sha256:" + strings.Repeat("ab", 32), Size: 11_083_938, OS: "linux", Arch: "amd64"},
		Took:  4200 * time.Millisecond,
	}
	if got, want := r.String(), "built alice/oc-lettings:"+sha+" (sha256:abababababab, 11.1MB, linux/amd64) in 4.2s"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	r.UpToDate, r.Took = true, 81*time.Millisecond
	if got := r.String(); !strings.HasPrefix(got, "up to date: alice/") || !strings.HasSuffix(got, "in 81ms") {
		t.Errorf("String() = %q", got)
	}
}

func TestExplain(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&registry.AuthError{Registry: "docker.io", User: "alice"}, "Docker Hub refused the credentials for user alice: " + settings.DockerHubRefused},
		{ErrDirty, ErrDirty.Error()},
	} {
		got := explain(fmt.Errorf("wrapped: %w", tt.err))
		if !strings.HasSuffix(got.Error(), tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("%v: %q, want it to end with %q and wrap the original", tt.err, got, tt.want)
		}
	}
}

func TestPushRefusesADirtyBuild(t *testing.T) {
	var b Builder // no engine: nothing may be tried
	_, err := b.Push(context.Background(), Result{Names: Names{Commit: "oc-lettings:" + sha + "-dirty"}}, Credentials{}, nil)
	if !errors.Is(err, ErrDirty) {
		t.Errorf("error %v, want ErrDirty", err)
	}
}

// fakeEngine is an engine in memory: what Build decides is tested without
// a Docker engine.
type fakeEngine struct {
	images    map[string]docker.Image // by reference and by ID
	platforms []string                // what each build makes, in turn; linux/amd64 when none is left
	thief     string                  // an image that takes the commit tag while a build runs
	builds    []docker.BuildOptions
	removed   []string
	pullErr   error // what Pull returns
}

func (f *fakeEngine) Build(_ context.Context, o docker.BuildOptions) (docker.Image, error) {
	f.builds = append(f.builds, o)
	platform := registry.Platform
	if len(f.platforms) > 0 {
		platform, f.platforms = f.platforms[0], f.platforms[1:]
	}
	os, arch, _ := strings.Cut(platform, "/")
	img := docker.Image{ID: fmt.Sprintf("sha256:built%d", len(f.builds)), OS: os, Arch: arch, Labels: o.Labels}
	f.images[img.ID] = img
	for _, tag := range o.Tags {
		f.images[tag] = img
		if f.thief != "" && strings.Contains(tag, sha) {
			f.images[tag] = f.images[f.thief]
		}
	}
	return img, nil
}

func (f *fakeEngine) Image(_ context.Context, ref string) (docker.Image, bool, error) {
	img, ok := f.images[ref]
	return img, ok, nil
}

func (f *fakeEngine) Tag(_ context.Context, source, target string) error {
	f.images[target] = f.images[source]
	return nil
}

func (f *fakeEngine) RemoveUntagged(_ context.Context, id string) error {
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeEngine) Push(context.Context, registry.Image, io.Writer) (docker.PushResult, error) {
	return docker.PushResult{}, errors.New("not used")
}

func (f *fakeEngine) Pull(context.Context, registry.Image, io.Writer) error {
	return f.pullErr
}

// TestAFailedPullSaysWhatToDo: whatever stops runLocal's pull, the error
// says what to do, even when all the engine said was the daemon's text.
func TestAFailedPullSaysWhatToDo(t *testing.T) {
	unset := ", or unset DOCKERHUB_USERNAME to build and run the work tree's image"
	noDNS := errors.New(`Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`)
	for _, tt := range []struct {
		err  error
		want string
	}{
		{noDNS, noDNS.Error() + ": check the network and DOCKER_REGISTRY" + unset},
		{&registry.NotFoundError{Ref: "alice/oc-lettings:latest"}, "there is no image alice/oc-lettings:latest: publish it with mage push" + unset},
		{&registry.AuthError{Registry: "docker.io", User: "alice"}, "Docker Hub refused the credentials for user alice: " + settings.DockerHubRefused},
	} {
		b := Builder{Engine: &fakeEngine{pullErr: tt.err}, Repository: "alice/oc-lettings"}
		if _, err := b.ToRun(context.Background(), true, Credentials{}, io.Discard); err == nil || err.Error() != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("pull failing with %v: %v\nwant %s", tt.err, err, tt.want)
		}
	}
}

func TestBuildDecides(t *testing.T) {
	t.Parallel()
	dir := imagetest.Repo(t)
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	info.Commit = sha
	newBuilder := func(f *fakeEngine) *Builder {
		f.images = map[string]docker.Image{"other": {ID: "sha256:other", OS: "linux", Arch: "amd64"}}
		return &Builder{Engine: f, Runner: &runner.Runner{}, Dir: dir, Repository: "alice/site"}
	}
	build := func(b *Builder) Result {
		t.Helper()
		res, err := b.Build(context.Background(), info)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("once, then up to date", func(t *testing.T) {
		f := &fakeEngine{}
		b := newBuilder(f)
		first := build(b)
		if first.UpToDate || len(f.builds) != 1 || strings.Join(f.builds[0].Tags, " ") != "alice/site:"+sha+" alice/site:latest" {
			t.Fatalf("first build: %+v, builds %+v", first, f.builds)
		}
		if f.builds[0].Labels[FingerprintLabel] == "" || f.builds[0].BuildArgs["REVISION"] != sha || f.builds[0].NoCache {
			t.Errorf("build options %+v", f.builds[0])
		}
		delete(f.images, "alice/site:latest")
		again := build(b)
		if !again.UpToDate || len(f.builds) != 1 || f.images["alice/site:latest"].ID != first.Image.ID {
			t.Errorf("second build %+v after %d builds: want up to date, latest back on %s", again, len(f.builds), first.Image.ID)
		}
	})
	t.Run("a cached step of another platform", func(t *testing.T) {
		f := &fakeEngine{platforms: []string{"linux/arm64"}}
		res := build(newBuilder(f))
		if len(f.builds) != 2 || !f.builds[1].NoCache || res.Image.Platform() != registry.Platform {
			t.Errorf("builds %+v, result %+v: want a second build without the cache", f.builds, res)
		}
	})
	t.Run("the wrong platform even without the cache", func(t *testing.T) {
		f := &fakeEngine{platforms: []string{"linux/arm64", "linux/arm64"}}
		if _, err := newBuilder(f).Build(context.Background(), info); err == nil || !strings.Contains(err.Error(), "built a linux/arm64 image") {
			t.Errorf("error %v, want one naming the platform built", err)
		}
	})
	t.Run("another build took the tag meanwhile", func(t *testing.T) {
		f := &fakeEngine{thief: "other"}
		res := build(newBuilder(f))
		if res.Image.ID != "sha256:other" || !slices.Contains(f.removed, "sha256:built1") {
			t.Errorf("result %s, removed %v: want the image the tag names, and this build's image removed", res.Image.ID, f.removed)
		}
	})
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	dir := imagetest.Repo(t)
	other := imagetest.Repo(t) // the same files elsewhere
	r := &runner.Runner{}
	ctx := context.Background()
	dockerfile := []byte("FROM scratch\n")
	fp := func(dir, recipe string, dockerfile []byte) string {
		t.Helper()
		got, err := Fingerprint(ctx, r, dir, recipe, dockerfile)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	base := fp(dir, "recipe", dockerfile)
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("fingerprint %q", base)
	}
	if got := fp(dir, "recipe", dockerfile); got != base {
		t.Error("the same inputs gave another fingerprint")
	}
	if got := fp(other, "recipe", dockerfile); got != base {
		t.Error("another checkout of the same files gave another fingerprint")
	}
	masking := &runner.Runner{Redactor: redact.New("x", "o")} // one-letter secrets mask most paths
	if got, err := Fingerprint(ctx, masking, dir, "recipe", dockerfile); err != nil || got != base {
		t.Errorf("with secrets masked: %s, %v; want %s: go list's output must be read as it is", got, err, base)
	}
	if got := fp(dir, "recipe 2", dockerfile); got == base {
		t.Error("the recipe does not count")
	}
	if got := fp(dir, "recipe", []byte("FROM scratch\nUSER 1:1\n")); got == base {
		t.Error("the Dockerfile does not count")
	}

	edit := func(name, text string) (restore func()) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		old, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(append([]byte(nil), old...), text...), 0o644); err != nil {
			t.Fatal(err)
		}
		return func() {
			if old == nil {
				_ = os.Remove(p)
				return
			}
			_ = os.WriteFile(p, old, 0o644)
		}
	}
	for _, tt := range []struct {
		file    string
		text    string
		changes bool
	}{
		{"app/main.go", "\n// one more line\n", true},
		{embeddedFile(t, dir), "\n", true},
		{"go.sum", "\n", true},
		{"app/zz_extra_test.go", "package main\n", false},
		{"app/notes.txt", "not embedded\n", false},
		{"magefiles/internal/zz_extra/extra.go", "package extra\n", false},
	} {
		restore := edit(tt.file, tt.text)
		got := fp(dir, "recipe", dockerfile)
		restore()
		if (got != base) != tt.changes {
			t.Errorf("editing %s: fingerprint changed = %v, want %v", tt.file, got != base, tt.changes)
		}
	}
}

// embeddedFile returns a file the site's binary embeds, relative to dir.
func embeddedFile(t *testing.T, dir string) string {
	t.Helper()
	out, err := (&runner.Runner{}).Output(context.Background(), runner.Cmd{
		Name: "go", Args: []string{"list", "-deps", "-json=Dir,EmbedFiles,Module", gobuild.MainPackage}, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p struct {
			Dir        string
			EmbedFiles []string
			Module     *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module != nil && p.Module.Main && len(p.EmbedFiles) > 0 {
			rel, err := filepath.Rel(dir, filepath.Join(p.Dir, p.EmbedFiles[0]))
			if err != nil {
				t.Fatal(err)
			}
			return filepath.ToSlash(rel)
		}
	}
	t.Skip("the site embeds no file")
	return ""
}

func TestFingerprintWantsCARootsAndTimeZones(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":      "module example.com/bare\n\ngo 1.26\n",
		"app/main.go": "package main\n\nimport _ \"time/tzdata\"\n\nfunc main() {}\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Fingerprint(context.Background(), &runner.Runner{}, dir, "", nil)
	if err == nil || !strings.Contains(err.Error(), "does not import golang.org/x/crypto/x509roots/fallback, which a scratch image needs") {
		t.Errorf("error %v, want one naming the missing CA roots", err)
	}
}
