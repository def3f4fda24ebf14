package lint

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func TestShellScripts(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"run_docker.sh":       "echo hi\n",
		".ci/run":             "#!/usr/bin/env bash\nset -e\n",
		".ci/plain":           "#!/bin/sh\n",
		".ci/README":          "not a script\n",
		"tools/gen.py":        "#!/usr/bin/env python3\n",
		"testdata/x.sh":       "echo\n",
		".git/hooks/pre.sh":   "echo\n",
		"app/static/site.css": "body{}\n",
		"empty":               "",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ShellScripts(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".ci/plain", ".ci/run", "run_docker.sh"}
	if !slices.Equal(got, want) {
		t.Errorf("ShellScripts = %v, want %v", got, want)
	}
}

func TestShellcheckCatchesABadScript(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		testenv.Missing(t, "shellcheck", err, "install it: apt-get install shellcheck")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.sh"), []byte("#!/bin/sh\necho $1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := (&runner.Runner{Out: &out}).Run(context.Background(), Shellcheck(dir, []string{"bad.sh"}))
	if err == nil || !strings.Contains(out.String(), "SC2086") {
		t.Errorf("shellcheck on an unquoted $1: err=%v output=%q", err, out.String())
	}
}

func TestGolangciLintUsesThePinnedTool(t *testing.T) {
	got := GolangciLint(".").String()
	if got != "go tool -modfile=tools/go.mod golangci-lint run ./..." {
		t.Errorf("command = %s", got)
	}
}

// TestRunRunsEveryLinter checks that Run goes on after a linter fails and
// names every one that failed, with stand-ins for go and shellcheck.
func TestRunRunsEveryLinter(t *testing.T) {
	bin, dir := t.TempDir(), t.TempDir()
	for name, script := range map[string]string{
		"go":         "#!/bin/sh\necho \"go $*\" >>\"$0.log\"\nexit 3\n",
		"shellcheck": "#!/bin/sh\necho \"shellcheck $*\" >>\"$0.log\"\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out strings.Builder
	err := Run(t.Context(), &runner.Runner{Out: &out}, dir, filepath.Join(dir, "no-schema.json"))
	for _, want := range []string{"golangci-lint found problems", "shellcheck found problems", "the CircleCI config check failed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run = %v, want it to say %q", err, want)
		}
	}
	for name, want := range map[string]string{
		"go":         "go tool -modfile=tools/go.mod golangci-lint run ./...",
		"shellcheck": "shellcheck --external-sources run.sh",
	} {
		log, _ := os.ReadFile(filepath.Join(bin, name+".log"))
		if !strings.Contains(string(log), want) {
			t.Errorf("%s ran %q, want %q", name, log, want)
		}
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Run(ctx, &runner.Runner{Out: io.Discard}, t.TempDir(), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancellation = %v, want context.Canceled", err)
	}
}
