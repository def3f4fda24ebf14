package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestNames(t *testing.T) {
	tests := []struct {
		where      Where
		dirty      bool
		wantCommit string
		wantLatest string
	}{
		{Where{"docker.io", "alice", "oc-lettings"}, false, "alice/oc-lettings:" + sha, "alice/oc-lettings:latest"},
		{Where{"ghcr.io", "alice", "oc-lettings"}, false, "ghcr.io/alice/oc-lettings:" + sha, "ghcr.io/alice/oc-lettings:latest"},
		{Where{"docker.io", "", "oc-lettings"}, false, "oc-lettings:" + sha, "oc-lettings:latest"},
		{Where{"docker.io", "alice", "oc-lettings"}, true, "alice/oc-lettings:" + sha + "-dirty", ""},
	}
	for _, tt := range tests {
		n := tt.where.NamesFor(gitinfo.Info{Commit: sha, Dirty: tt.dirty})
		if n.Commit != tt.wantCommit || n.Latest != tt.wantLatest {
			t.Errorf("%+v dirty=%v: %+v, want %s and %q", tt.where, tt.dirty, n, tt.wantCommit, tt.wantLatest)
		}
		if want := len(strings.Fields(tt.wantCommit + " " + tt.wantLatest)); len(n.Tags()) != want {
			t.Errorf("Tags() = %q", n.Tags())
		}
	}
}

func TestWhereAndAuthFromEnv(t *testing.T) {
	env := settings.Map(map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": "s3cret "})
	if w := WhereFromEnv(env); w != (Where{"docker.io", "alice", "oc-lettings"}) {
		t.Errorf("WhereFromEnv = %+v, want the defaults and alice", w)
	}
	if a := AuthFromEnv(env); a != (docker.Auth{Username: "alice", Password: "s3cret", ServerAddress: "docker.io"}) {
		t.Errorf("AuthFromEnv = %+v", a)
	}
	env = settings.Map(map[string]string{"DOCKER_REGISTRY": "127.0.0.1:5000", "IMAGE_NAME": "site"})
	if w := WhereFromEnv(env); w != (Where{"127.0.0.1:5000", "", "site"}) {
		t.Errorf("WhereFromEnv = %+v", w)
	}
}

func TestBuildArgs(t *testing.T) {
	info := gitinfo.Info{
		Commit: sha, Version: "v1.2.0-3-g0123456", Source: "https://github.com/oc/site",
		Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600)),
	}
	got := buildArgs(info, []string{"VERSION", "REVISION", "CREATED", "SOURCE", "OTHER"})
	want := map[string]string{
		"VERSION": "v1.2.0-3-g0123456", "REVISION": sha, "SOURCE": "https://github.com/oc/site",
		"CREATED": "2024-05-06T05:08:09Z",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("buildArgs = %v, want %v", got, want)
	}
	// Undeclared arguments and empty values are left out, so the
	// Dockerfile's defaults apply.
	got = buildArgs(gitinfo.Info{Commit: sha}, []string{"REVISION", "SOURCE", "CREATED"})
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"REVISION": sha}) {
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
	tests := []struct {
		err       error
		pull      bool
		want      string
		wantIsErr error
	}{
		{
			err:  &docker.AuthError{Registry: "docker.io", User: "alice"},
			want: "Docker Hub refused the credentials for user alice: check DOCKERHUB_USERNAME/DOCKERHUB_PASS",
		},
		{
			err:  &docker.AuthError{Registry: "docker.io"},
			pull: true,
			want: "Docker Hub refused access without credentials: set DOCKERHUB_USERNAME and DOCKERHUB_PASS",
		},
		{
			err:  &docker.NotFoundError{Ref: "alice/oc-lettings:latest"},
			pull: true,
			want: "there is no image alice/oc-lettings:latest: publish it with mage push, or unset DOCKERHUB_USERNAME to build and run the work tree's image",
		},
		{err: ErrDirty, want: ErrDirty.Error(), wantIsErr: ErrDirty},
	}
	for _, tt := range tests {
		explain := ExplainAuth
		if tt.pull {
			explain = ExplainPull
		}
		got := explain(fmt.Errorf("wrapped: %w", tt.err))
		if !strings.HasSuffix(got.Error(), tt.want) {
			t.Errorf("%v: %q, want it to end with %q", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%v: the explained error does not wrap the original", tt.err)
		}
	}
}

func TestPushRefusesADirtyBuild(t *testing.T) {
	var b Builder // no engine: nothing may be tried
	_, err := b.Push(context.Background(), Result{Names: Names{Commit: "oc-lettings:" + sha + "-dirty"}}, docker.Auth{}, nil)
	if !errors.Is(err, ErrDirty) {
		t.Errorf("error %v, want ErrDirty", err)
	}
}

func TestFingerprint(t *testing.T) {
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
		var p pkg
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
