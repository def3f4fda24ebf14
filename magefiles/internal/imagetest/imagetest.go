// Package imagetest gives the tests of mage build, push and runLocal what
// they share: a committed copy of the repository to build in (so a test
// neither depends on nor dirties the work tree it runs from, and its images
// carry the copy's own commit), unique image names, clean-up of what the
// test tags, and a way to run the real mage targets in the copy.
package imagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// gitEnv makes commits in the copy independent of the user's git settings.
var gitEnv = []string{
	"GIT_AUTHOR_NAME=OC Lettings tests", "GIT_AUTHOR_EMAIL=tests@oc-lettings.invalid",
	"GIT_COMMITTER_NAME=OC Lettings tests", "GIT_COMMITTER_EMAIL=tests@oc-lettings.invalid",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
}

// Root returns the repository root: the nearest directory above the test's
// working directory that holds a go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Repo copies the repository's files as they are in the work tree (tracked
// and untracked, not ignored) into a temporary directory, commits them
// there, and returns the directory. Every copy has a commit of its own.
func Repo(t testing.TB) string {
	t.Helper()
	root := Root(t)
	list := Git(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	dir := t.TempDir()
	copyRoot, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = copyRoot.Close() }()
	for _, name := range strings.Split(strings.TrimRight(list, "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := copyRoot.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyRoot.WriteFile(name, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "init", "-q")
	Git(t, dir, "add", "-A")
	// The message makes the commit the copy's own: two copies of the same
	// files committed within the same second would otherwise get the same
	// hash, and tests running side by side would build the same image (one
	// image ID under two names) and see each other's containers and cache.
	Git(t, dir, "commit", "-q", "-m", "copy for a test "+rand.Text())
	return dir
}

// Git runs git in dir and returns its standard output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Env returns this process's environment without the pipeline's variables
// (every one settings.All lists, and mage's MAGEFILE_VERBOSE, so the
// caller's DOCKERHUB_PASS and the like never leak into a test run), plus
// set.
func Env(set map[string]string) []string {
	drop := map[string]bool{"MAGEFILE_VERBOSE": true}
	for _, v := range settings.All {
		drop[v.Name] = true
	}
	for name := range set {
		drop[name] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			env = append(env, kv)
		}
	}
	for name, value := range set {
		env = append(env, name+"="+value)
	}
	return env
}

// Mage runs go tool mage with args in dir, with Env(set) as its
// environment, and returns everything it wrote and its exit code.
func Mage(t testing.TB, dir string, set map[string]string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "mage"}, args...)...)
	cmd.Dir = dir
	cmd.Env = Env(set)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("go tool mage %s: %v\n%s", strings.Join(args, " "), err, out)
		return "", -1
	}
}
