package deploy_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// TestMageDeploy runs the real targets in a copy of the repository, as
// CircleCI does: go tool mage push on one side, then go tool mage deploy
// with Heroku and Sentry faked, and Ctrl-C during a deploy.
func TestMageDeploy(t *testing.T) {
	s := newStage(t)
	dir := imagetest.Repo(t)
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	repo := docker.Repository(s.reg.Host, s.reg.User, s.image)
	testenv.RemoveWhenDone(t, s.raw, repo+":"+info.Commit, repo+":latest")
	if out, code := imagetest.Mage(t, dir, s.env, "push"); code != 0 {
		t.Fatalf("mage push: exit %d\n%s", code, out)
	}
	id, found, err := s.engine.ImageID(context.Background(), repo+":"+info.Commit)
	if err != nil || !found {
		t.Fatalf("mage push left no image %s:%s (%v)", repo, info.Commit, err)
	}
	removeImageWhenDone(t, s.raw, id) // built from the copy's own commit: this test's alone
	// A fresh CI executor: the deploy pulls the image.
	if _, err := s.raw.ImageRemove(context.Background(), repo+":"+info.Commit, client.ImageRemoveOptions{}); err != nil {
		t.Fatal(err)
	}

	old := "sha256:" + strings.Repeat("0", 64)
	s.heroku.AddApp(herokutest.App{Name: s.app})
	s.heroku.AddRelease(s.app, old, heroku.StatusSucceeded)
	router := newRouter(t, s, id)
	s.env["DEPLOY_HEALTH_URL"] = router.URL + "/healthz"

	t.Run("deploy", func(t *testing.T) {
		s.heroku.PlanRelease(herokutest.ReleasePlan{Polls: 1, Output: "Running release command...\n"})
		out, code := imagetest.Mage(t, dir, s.env, "deploy")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{
			"preflight ok: app " + s.app + " on the container stack, key of " + herokutest.Email + " accepted",
			"image " + repo + ":" + info.Commit + " is not in the local engine: pulling it",
			"image " + repo + ":" + info.Commit + " (" + id[:19] + ")",
			"pushed " + docker.HerokuRepository(s.reg.Host, s.app) + ":latest",
			"release v2 pending",
			"release v2 succeeded",
			"health ok: " + router.URL + "/healthz reports commit " + info.Commit[:12] + " (" + info.Version + ")",
			"Sentry release oc-lettings@" + info.Version + " recorded, deployed to production",
			"deployed " + info.Commit[:12] + " to " + s.app + " as v2 in ",
		}
		if len(lines) != len(want) {
			t.Fatalf("output:\n%s\nwant %d lines", out, len(want))
		}
		for i := range want {
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("line %d = %q, want %q", i+1, lines[i], want[i])
			}
		}
		noSecret(t, out, s)
	})

	t.Run("Ctrl-C while the release is pending", func(t *testing.T) {
		// Another app, running another image, so this deploy makes a release.
		s.env["HEROKU_APP_NAME"] = s.app + "-b"
		testenv.RemoveWhenDone(t, s.raw, docker.HerokuRepository(s.reg.Host, s.app+"-b")+":latest")
		s.heroku.AddApp(herokutest.App{Name: s.app + "-b"})
		s.heroku.AddRelease(s.app+"-b", old, heroku.StatusSucceeded)
		s.heroku.PlanRelease(herokutest.ReleasePlan{Polls: -1})

		cmd := exec.CommandContext(context.Background(), "go", "tool", "mage", "deploy")
		cmd.Dir = dir
		cmd.Env = imagetest.Env(s.env)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's foreground job
		out := &testenv.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(out.String(), "release v2 pending") {
			if time.Now().After(deadline) {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("the deploy never reached the release:\n%s", out)
			}
			time.Sleep(20 * time.Millisecond)
		}
		interrupted := time.Now()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil { // Ctrl-C
			t.Fatal(err)
		}
		err := cmd.Wait()
		if took := time.Since(interrupted); took > 5*time.Second {
			t.Errorf("took %v after Ctrl-C; mage allows 5s", took)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want 1", err)
		}
		contains(t, "the output", out.String(),
			"interrupted while waiting for v2 to be released",
			"Error: deploy interrupted while waiting for v2 to be released: v2 was pending, v1 was current before",
			"rolled back: v3 (rollback to v1, the release current before this deploy) succeeded")
		rels := s.heroku.Releases(s.app + "-b")
		if len(rels) != 3 || !rels[2].Current || rels[2].Image != old {
			t.Errorf("releases = %+v, want v3, a rollback to v1, current", rels)
		}
		noSecret(t, out.String(), s)
	})
}

func noSecret(t *testing.T, out string, s *stage) {
	t.Helper()
	for _, secret := range []string{apiKey, s.reg.Password, sentryToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows a secret (%.4s...)", secret)
		}
	}
}
