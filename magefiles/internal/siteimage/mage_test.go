package siteimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// TestMageBuildAndPush runs the real targets, go tool mage build and push,
// in a copy of the repository, as a user or CircleCI would.
func TestMageBuildAndPush(t *testing.T) {
	t.Parallel()
	raw := testenv.Docker(t)
	reg := testenv.StartRegistry(t)
	dir := imagetest.Repo(t)
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.Unique(t, "oc-lettings-test-")
	local := NamesFor(name, info)
	published := NamesFor(registry.Repository(reg.Host, reg.User, name), info)
	testenv.RemoveWhenDone(t, raw, local.Tags()...)
	testenv.RemoveWhenDone(t, raw, published.Tags()...)
	env := map[string]string{"IMAGE_NAME": name, "DOCKER_REGISTRY": reg.Host}
	for k, v := range secrets {
		env[k] = v
	}

	t.Run("build without an account", func(t *testing.T) {
		out, code := imagetest.Mage(t, dir, env, "build")
		want := "built " + local.Commit + " ("
		if code != 0 || !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 {
			t.Fatalf("exit %d, output:\n%s\nwant one line starting %q", code, out, want)
		}
		out, code = imagetest.Mage(t, dir, env, "build")
		if code != 0 || !strings.HasPrefix(out, "up to date: "+local.Commit) {
			t.Errorf("second build: exit %d, output:\n%s", code, out)
		}
	})

	t.Run("no engine", func(t *testing.T) {
		for _, host := range []string{"tcp://127.0.0.1:1", "unix:///nonexistent/docker.sock"} {
			start := time.Now()
			out, code := imagetest.Mage(t, dir, map[string]string{"DOCKER_HOST": host, "IMAGE_NAME": name}, "build")
			if code != 1 || !strings.HasPrefix(out, "Error: cannot reach the Docker engine at "+host) || strings.Count(out, "\n") != 1 {
				t.Errorf("exit %d, output:\n%s\nwant one line saying the engine is unreachable", code, out)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
		}
	})

	t.Run("push without credentials", func(t *testing.T) {
		bare := map[string]string{"IMAGE_NAME": name, "DOCKER_REGISTRY": reg.Host}
		out, code := imagetest.Mage(t, dir, bare, "push")
		if code == 0 || !strings.Contains(out, "Error: push cannot start:\n  DOCKERHUB_USERNAME is not set") ||
			!strings.Contains(out, "DOCKERHUB_PASS is not set") {
			t.Fatalf("exit %d, output:\n%s\nwant both variables named", code, out)
		}
		if strings.Contains(out, "built") {
			t.Error("it built before saying what is missing")
		}
	})

	env["DOCKERHUB_USERNAME"] = reg.User
	t.Run("push with a wrong password", func(t *testing.T) {
		wrong := "wrong-" + reg.Password
		env["DOCKERHUB_PASS"] = wrong
		out, code := imagetest.Mage(t, dir, env, "push")
		want := "Error: the registry " + reg.Host + " refused the credentials for user " + reg.User + ": " + settings.DockerHubRefused + "\n"
		if code != 1 || !strings.HasSuffix(out, want) {
			t.Errorf("exit %d, output:\n%s\nwant it to end with %q", code, out, want)
		}
		for _, secret := range []string{wrong, reg.Password} {
			if strings.Contains(out, secret) {
				t.Errorf("a password shows in the output:\n%s", out)
			}
		}
	})

	t.Run("push", func(t *testing.T) {
		env["DOCKERHUB_PASS"] = reg.Password
		out, code := imagetest.Mage(t, dir, env, "push")
		if code != 0 || !strings.Contains(out, "pushed "+published.Commit+" and "+published.Latest+" to the registry "+reg.Host) {
			t.Errorf("exit %d, output:\n%s", code, out)
		}
		if strings.Contains(out, reg.Password) {
			t.Error("the password shows in the output")
		}
		out, code = imagetest.Mage(t, dir, env, "push")
		if code != 0 || !strings.Contains(out, "; 0 of ") {
			t.Errorf("pushing again: exit %d, output:\n%s\nwant no layer uploaded", code, out)
		}
	})

	t.Run("push with new files", func(t *testing.T) {
		// A screenshot cannot reach the image: it does not stop a push.
		screenshot := filepath.Join(dir, "screenshot.png")
		if err := os.WriteFile(screenshot, []byte("png"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.Remove(screenshot) }()
		if out, code := imagetest.Mage(t, dir, env, "push"); code != 0 || !strings.Contains(out, "up to date: "+published.Commit) {
			t.Errorf("with a screenshot: exit %d, output:\n%s", code, out)
		}
		// A new file under app/ can: push refuses, and says what helps.
		page := filepath.Join(dir, "app", "new.html")
		if err := os.WriteFile(page, []byte("<p>new</p>"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.Remove(page) }()
		if out, code := imagetest.Mage(t, dir, env, "push"); code == 0 || !strings.Contains(out, ErrDirty.Error()) || !strings.Contains(out, "git stash -u") {
			t.Errorf("with a new file under app/: exit %d, output:\n%s", code, out)
		}
	})
}
