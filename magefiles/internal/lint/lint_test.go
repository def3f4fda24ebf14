package lint

import (
	"context"
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
