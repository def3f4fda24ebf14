package gitinfo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

func TestHTTPSURL(t *testing.T) {
	tests := map[string]string{
		"git@github.com:oc-lettings/oc-lettings.git":            "https://github.com/oc-lettings/oc-lettings",
		"ssh://git@github.com/oc-lettings/oc-lettings.git":      "https://github.com/oc-lettings/oc-lettings",
		"https://github.com/oc-lettings/oc-lettings.git":        "https://github.com/oc-lettings/oc-lettings",
		"https://user:tok3n@github.com/oc-lettings/oc-lettings": "https://github.com/oc-lettings/oc-lettings",
		"/srv/git/oc-lettings":                                  "",
		"":                                                      "",
	}
	for in, want := range tests {
		if got := HTTPSURL(in); got != want {
			t.Errorf("HTTPSURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	var shown strings.Builder
	r := &runner.Runner{Out: &shown}
	ctx := context.Background()
	git := func(args ...string) {
		t.Helper()
		c := runner.Cmd{Name: "git", Args: args, Dir: dir, Env: []string{
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_COMMITTER_DATE=2024-05-06T07:08:09+02:00",
		}}
		if err := r.Run(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Read(ctx, r, dir); err == nil {
		t.Fatal("Read outside a repository succeeded")
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	git("add", "f")
	git("commit", "-q", "-m", "first")
	shown.Reset()
	if info, err := Read(ctx, r, dir); err != nil || info.Source != "" || shown.Len() != 0 {
		t.Errorf("without an origin: %+v, %v; shown %q, want no source and nothing shown", info, err, shown.String())
	}
	git("remote", "add", "origin", "git@github.com:oc/site.git")

	info, err := Read(ctx, r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Commit) != 40 || info.Dirty || info.Version != info.Commit[:7] || info.Source != "https://github.com/oc/site" {
		t.Errorf("clean tree: %+v", info)
	}
	if want := time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC); !info.Time.Equal(want) || info.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", info.Time, want)
	}
	if len(info.Short()) != 12 {
		t.Errorf("Short = %q", info.Short())
	}

	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("2"), 0o600); err != nil {
		t.Fatal(err)
	}
	git("tag", "v1.0.0")
	info, err = Read(ctx, r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Dirty || info.Version != "v1.0.0-dirty" {
		t.Errorf("dirty tagged tree: %+v", info)
	}

	git("commit", "-q", "-am", "second")
	// New files count only when they can reach the image.
	for _, tt := range []struct {
		path  string
		dirty bool
	}{
		{"screenshot.png", false},
		{".notes.md.swp", false},
		{"tools/draft.go", false},
		{"app/new.go", true},
		{"app/internal/static/new dir/logo é.svg", true},
		{"go.work", true},
		{"Dockerfile", true},
	} {
		name := filepath.Join(dir, filepath.FromSlash(tt.path))
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("package x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		info, err = Read(ctx, r, dir)
		if err != nil {
			t.Fatal(err)
		}
		if info.Dirty != tt.dirty || strings.HasSuffix(info.Version, "-dirty") != tt.dirty {
			t.Errorf("a new %s: %+v, want dirty %v, and a version that says so", tt.path, info, tt.dirty)
		}
		if err := os.RemoveAll(filepath.Join(dir, strings.Split(tt.path, "/")[0])); err != nil {
			t.Fatal(err)
		}
	}
}
