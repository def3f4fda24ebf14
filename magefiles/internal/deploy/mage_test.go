package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// TestMageDeploy runs the real targets in a copy of the repository, as
// CircleCI does: go tool mage push with a Docker engine, then go tool mage
// deploy with none (DOCKER_HOST points nowhere), Heroku and Sentry faked
// and the real site released, and Ctrl-C during a deploy.
func TestMageDeploy(t *testing.T) {
	t.Parallel()
	raw := testenv.Docker(t)
	reg := testenv.StartRegistry(t, testenv.WithUser("_", apiKey)) // Docker Hub and Heroku's registry
	api := herokutest.NewServer(apiKey)
	t.Cleanup(api.Close)
	api.SetImages(herokutest.Registry{Host: reg.Host, User: "_", Password: apiKey})
	sentry := sentryreleasetest.NewServer(sentryToken, "acme", "oc-lettings")
	t.Cleanup(sentry.Close)
	app, image := testenv.Unique(t, "oc-e2e-"), testenv.Unique(t, "oc-e2e-")
	env := map[string]string{
		"DOCKER_REGISTRY": reg.Host, "DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password,
		"IMAGE_NAME": image, "HEROKU_API_KEY": apiKey, "HEROKU_APP_NAME": app,
		"HEROKU_API_URL": api.URL, "HEROKU_REGISTRY": reg.Host,
		"SENTRY_AUTH_TOKEN": sentryToken, "SENTRY_ORG": "acme", "SENTRY_PROJECT": "oc-lettings", "SENTRY_URL": sentry.URL,
	}

	dir := imagetest.Repo(t)
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	repo := registry.Repository(reg.Host, reg.User, image)
	testenv.RemoveWhenDone(t, raw, repo+":"+info.Commit, repo+":latest")
	if out, code := imagetest.Mage(t, dir, env, "push"); code != 0 {
		t.Fatalf("mage push: exit %d\n%s", code, out)
	}
	pushed, err := reg.Manifest(context.Background(), reg.User+"/"+image, info.Commit)
	if err != nil {
		t.Fatalf("mage push left no image %s:%s (%v)", repo, info.Commit, err)
	}

	old := "sha256:" + strings.Repeat("0", 64)
	api.AddApp(herokutest.App{Name: app})
	api.AddRelease(app, old, heroku.StatusSucceeded)
	router := newRouter(t, api, reg, app, pushed.Config.Digest)
	env["DEPLOY_HEALTH_URL"] = router.URL + "/healthz"
	env["DOCKER_HOST"] = "tcp://127.0.0.1:1" // deploy needs no engine: there is none

	t.Run("deploy", func(t *testing.T) {
		api.PlanRelease(herokutest.ReleasePlan{Polls: 1, Output: "Running release command...\n"})
		out, code := imagetest.Mage(t, dir, env, "deploy")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		want := []string{
			"preflight ok: app " + app + " on the container stack, key of " + herokutest.Email + " accepted",
			"copied " + repo + ":" + info.Commit + " to " + reg.Host + "/" + app + "/web:latest (digest ",
			"release v2 pending",
			"release v2 succeeded",
			"health ok: " + router.URL + "/healthz reports commit " + info.Commit[:12] + " (" + info.Version + ")",
			"Sentry release oc-lettings@" + info.Version + " recorded, deployed to production",
			"deployed " + info.Commit[:12] + " to " + app + " as v2 in ",
		}
		if len(lines) != len(want) {
			t.Fatalf("output:\n%s\nwant %d lines", out, len(want))
		}
		for i := range want {
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("line %d = %q, want %q", i+1, lines[i], want[i])
			}
		}
		noSecret(t, out, reg)
	})

	t.Run("Ctrl-C while the release is pending", func(t *testing.T) {
		// Another app, running another image, so this deploy makes a release.
		env["HEROKU_APP_NAME"] = app + "-b"
		api.AddApp(herokutest.App{Name: app + "-b"})
		api.AddRelease(app+"-b", old, heroku.StatusSucceeded)
		api.PlanRelease(herokutest.ReleasePlan{Polls: -1})

		cmd := exec.CommandContext(context.Background(), "go", "tool", "mage", "deploy")
		cmd.Dir = dir
		cmd.Env = imagetest.Env(env)
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
			"interrupted while following v2: rolling back",
			"Error: deploy interrupted while following v2",
			"rolled back: v3 (rollback to v1, the release current before this deploy) is")
		rels := api.Releases(app + "-b")
		if len(rels) != 3 || !rels[2].Current || rels[2].Image != old {
			t.Errorf("releases = %+v, want v3, a rollback to v1, current", rels)
		}
		noSecret(t, out.String(), reg)
	})
}

func noSecret(t *testing.T, out string, reg *testenv.Registry) {
	t.Helper()
	for _, secret := range []string{apiKey, reg.Password, sentryToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows a secret (%.4s...)", secret)
		}
	}
}

// newRouter stands in for Heroku's router: once the fake makes image (a
// config digest) current, it forwards to a container that, like a dyno,
// runs what Heroku's registry holds for the app; before that it answers
// 503, as Heroku does for an app with no dyno.
func newRouter(t *testing.T, api *herokutest.Server, reg *testenv.Registry, app, image string) *httptest.Server {
	t.Helper()
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	ref := reg.Host + "/" + app + "/web:latest"
	testenv.RemoveWhenDone(t, testenv.Docker(t), ref)
	var (
		once    sync.Once
		target  *url.URL
		bootErr error
	)
	boot := func() {
		ctx := context.Background()
		if bootErr = eng.Pull(ctx, registry.Image{Ref: ref, User: "_", Password: apiKey}, nil); bootErr != nil {
			return
		}
		port := testenv.FreePort(t)
		id, err := eng.CreateContainer(ctx, docker.ContainerSpec{
			Name: testenv.Unique(t, "oc-e2e-dyno-"), Image: ref, Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port,
		})
		if bootErr = err; err != nil {
			return
		}
		t.Cleanup(func() { _ = eng.RemoveContainer(context.Background(), id, time.Second) })
		if bootErr = eng.StartContainer(ctx, id); bootErr == nil {
			target = &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current := ""
		for _, rel := range api.Releases(app) {
			if rel.Current {
				current = rel.Image
			}
		}
		if current != image {
			http.Error(w, "Application error: no web dynos running", http.StatusServiceUnavailable)
			return
		}
		once.Do(boot)
		if bootErr != nil {
			http.Error(w, "dyno failed to boot: "+bootErr.Error(), http.StatusServiceUnavailable)
			return
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "the dyno is not answering yet: "+err.Error(), http.StatusBadGateway)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
