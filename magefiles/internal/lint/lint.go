// Package lint runs the project's linters: golangci-lint (pinned in
// tools/go.mod, configured by .golangci.yml, magefiles included),
// shellcheck on every shell script, and the offline check of the CircleCI
// config (package circleci).
package lint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/circleci"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// GolangciLint returns the command that runs the pinned golangci-lint on the
// whole module. Its dependencies live in tools/go.mod, out of the main go.mod.
func GolangciLint(dir string) runner.Cmd {
	return runner.Cmd{
		Name: "go",
		Args: []string{"tool", "-modfile=tools/go.mod", "golangci-lint", "run", "./..."},
		Dir:  dir,
	}
}

// Shellcheck returns the command that checks the given shell scripts.
func Shellcheck(dir string, scripts []string) runner.Cmd {
	return runner.Cmd{Name: "shellcheck", Args: append([]string{"--external-sources"}, scripts...), Dir: dir}
}

var shebang = regexp.MustCompile(`^#!\s*/(usr/)?bin/(env\s+)?(ba|da)?sh\b`)

// ShellScripts returns, relative to root, every file named *.sh or starting
// with a sh or bash shebang, outside .git and testdata.
func ShellScripts(root string) ([]string, error) {
	var scripts []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		isScript := strings.HasSuffix(d.Name(), ".sh")
		if !isScript && !strings.Contains(d.Name(), ".") {
			isScript, err = hasShellShebang(path)
			if err != nil {
				return err
			}
		}
		if isScript {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			scripts = append(scripts, rel)
		}
		return nil
	})
	slices.Sort(scripts)
	return scripts, err
}

func hasShellShebang(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return false, nil // empty file
	}
	return shebang.MatchString(line), nil
}

// Run runs every linter on the repository at dir, all of them even when one
// fails, and returns an error naming those that failed. circleCISchema is
// CIRCLECI_SCHEMA, the CircleCI schema's path ("": the pinned one; see
// CircleCI).
func Run(ctx context.Context, r *runner.Runner, dir, circleCISchema string) error {
	var failed []error
	if err := r.Run(ctx, GolangciLint(dir)); err != nil {
		failed = append(failed, fmt.Errorf("golangci-lint found problems: %w", err))
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	scripts, err := ShellScripts(dir)
	if err != nil {
		return fmt.Errorf("finding shell scripts: %w", err)
	}
	if len(scripts) > 0 {
		if err := r.Run(ctx, Shellcheck(dir, scripts)); err != nil {
			failed = append(failed, fmt.Errorf("shellcheck found problems: %w", err))
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err := CircleCI(ctx, r, dir, circleCISchema); err != nil {
		failed = append(failed, fmt.Errorf("the CircleCI config check failed:\n%w", err))
	}
	return errors.Join(failed...)
}

// CircleCI checks the repository's .circleci/config.yml: against CircleCI's
// JSON schema, the copy at schema (CIRCLECI_SCHEMA) or, when it is "", the
// pinned one, downloaded once and cached (skipped with a notice when it
// cannot be downloaded); then against the project's rules, with the targets
// mage lists. Notices go where r's output goes.
func CircleCI(ctx context.Context, r *runner.Runner, dir, schema string) error {
	out := r.Writer()
	defer func() { _ = out.Close() }()
	return circleci.Lint(ctx, dir, schema, r, out)
}
