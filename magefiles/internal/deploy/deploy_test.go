package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
)

func TestHappyPath(t *testing.T) {
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: 2, Output: "Running release command...\nok\n", StreamMissing: 1})
	res, err := w.run(w.config())
	if err != nil {
		t.Fatalf("deploy failed: %v\n%s", err, w.out)
	}
	if res.Release.Version != 2 || res.Version != newVersion || res.Unchanged || res.HealthURL != w.site.URL+"/healthz" {
		t.Errorf("result = %+v", res)
	}

	equal(t, "engine calls", w.engine.Calls(), []string{
		"tag " + imageRef + " " + herokuReg + "/oc-web/web:latest",
		"push " + herokuReg + "/oc-web/web:latest as _ to " + herokuReg,
	})
	equal(t, "Platform API calls", w.apiCalls(), []string{
		"GET /account",
		"GET /apps/oc-web",
		"GET /apps/oc-web/releases [version ..; order=desc, max=10]",
		"PATCH /apps/oc-web/formation",
		"GET /apps/oc-web/releases [version ..; order=desc, max=1]",
		"GET /apps/oc-web/releases/" + w.heroku.Releases(app)[1].ID + " ...",
	})
	var patch herokutest.Request
	var streams []int
	for _, r := range w.heroku.Requests() {
		if strings.HasPrefix(r.Path, "/streams/") {
			if r.Auth != "" {
				t.Errorf("the output stream was sent credentials (%s)", r.Auth)
			}
			streams = append(streams, r.Status)
			continue
		}
		if r.Auth != "bearer" {
			t.Errorf("%s was sent without the bearer token", r)
		}
		if r.Method == http.MethodPatch {
			patch = r
		}
	}
	if patch.Accept != herokutest.AcceptDockerReleases || strings.TrimSpace(patch.Body) != `{"updates":[{"type":"web","docker_image":"`+newImage+`"}]}` {
		t.Errorf("release request: Accept %q, body %s", patch.Accept, patch.Body)
	}
	if len(streams) != 2 || streams[0] != http.StatusNotFound || streams[1] != http.StatusOK {
		t.Errorf("output stream answers = %v, want 404 (not there yet) then 200", streams)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})

	var sentryCalls []string
	for _, r := range w.sentry.Requests() {
		sentryCalls = append(sentryCalls, r.String())
	}
	equal(t, "Sentry calls", sentryCalls, []string{
		"POST /api/0/organizations/acme/releases/",
		"PUT /api/0/organizations/acme/releases/oc-lettings@v1.3.0/",
		"POST /api/0/organizations/acme/releases/oc-lettings@v1.3.0/deploys/",
	})
	if rel, ok := w.sentry.Release("oc-lettings@v1.3.0"); !ok || rel.Ref != newCommit || len(rel.Deploys) != 1 ||
		rel.Deploys[0].Environment != "production" || rel.Deploys[0].Name != "oc-web v2" {
		t.Errorf("Sentry release = %+v", rel)
	}

	out := w.out.String()
	contains(t, "the output", out,
		"preflight ok: app oc-web on the container stack, key of "+herokutest.Email+" accepted",
		"image "+imageRef+" (sha256:bbbbbbbbbbbb)",
		"pushed "+herokuReg+"/oc-web/web:latest",
		"release v2 pending",
		"release v2 succeeded",
		"health ok: "+w.site.URL+"/healthz reports commit 222222222222 (v1.3.0)",
		"Sentry release oc-lettings@v1.3.0 recorded, deployed to production",
		"deployed 222222222222 to oc-web as v2 in ",
	)
	if strings.Contains(out, "Running release command") {
		t.Error("the release phase output is shown without -v on success")
	}
	if n := strings.Count(out, "\n"); n != 8 {
		t.Errorf("%d lines of output, want 8, one per step:\n%s", n, out)
	}
}

func TestSameImageAgainMakesNoRelease(t *testing.T) {
	w := newWorld(t)
	if _, err := w.run(w.config()); err != nil {
		t.Fatal(err)
	}
	sentryBefore := len(w.sentry.Requests())
	res, err := w.run(w.config())
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !res.Unchanged || res.Release.Version != 2 {
		t.Errorf("result = %+v, want Unchanged with v2", res)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
	contains(t, "the output", w.out.String(), "image already released as v2, which is current: nothing to release\nhealth ok: ")
	if n := len(w.sentry.Requests()); n != sentryBefore {
		t.Errorf("Sentry was called for a deploy that released nothing")
	}
}

// The same image again, when what runs does not serve the commit (a deploy
// that failed with nothing to roll back to, say), is not a success.
func TestSameImageAgainStillChecksHealth(t *testing.T) {
	w := newWorld(t)
	if _, err := w.run(w.config()); err != nil {
		t.Fatal(err)
	}
	w.stick(oldCommit)
	cfg := w.config()
	cfg.HealthTimeout = 50 * time.Millisecond
	res, err := w.run(cfg)
	if err == nil || !res.Unchanged {
		t.Fatalf("second deploy: %+v, %v; want unchanged and failed", res, err)
	}
	contains(t, "the error", err.Error(), "did not report commit 222222222222", "v2 already runs this image, so nothing was changed", "heroku logs -a oc-web")
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
}

func TestFailedReleaseIsRolledBack(t *testing.T) {
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{
		Status: heroku.StatusFailed, Polls: 1,
		Output: "Running release command...\nmigrating\npanic: relation does not exist\n",
	})
	_, err := w.run(w.config())
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.RolledBack() {
		t.Fatalf("err = %v, want a RollbackError with the app rolled back", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 failed", "v3 succeeded current"})
	if last := w.heroku.Releases(app)[2]; last.Description != "Rollback to v1" || last.Image != oldImage {
		t.Errorf("v3 = %+v, want a rollback to v1", last)
	}
	contains(t, "the error", err.Error(),
		"release v2 failed: its release phase did not succeed",
		"panic: relation does not exist",
		"rolled back: v3 (rollback to v1, the release current before this deploy) succeeded")
	contains(t, "the output", w.out.String(), "release v2 failed\nrolling back to v1, the release current before this deploy\n")
	if len(w.sentry.Requests()) != 0 {
		t.Error("Sentry was told about a release that failed")
	}
}

func TestHealthCheckFailureIsRolledBack(t *testing.T) {
	w := newWorld(t)
	w.stick(oldCommit) // the new release succeeds, but the site keeps serving the old commit
	cfg := w.config()
	cfg.HealthTimeout = 100 * time.Millisecond
	_, err := w.run(cfg)
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.RolledBack() {
		t.Fatalf("err = %v, want a RollbackError with the app rolled back", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded", "v3 succeeded current"})
	contains(t, "the error", err.Error(),
		"health check: "+w.site.URL+"/healthz did not report commit 222222222222 within 100ms",
		`last answer: status "ok", commit "111111111111"`,
		"rolled back: v3 (rollback to v1")
}

func TestRateLimitedThenSucceeds(t *testing.T) {
	w := newWorld(t)
	w.heroku.Fail(herokutest.Fault{Method: "GET", Path: "/account", Status: 429, RetryAfter: "0"})
	w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 429})
	if _, err := w.run(w.config()); err != nil {
		t.Fatalf("deploy failed: %v\n%s", err, w.out)
	}
	var statuses []int
	for _, r := range w.heroku.Requests() {
		if r.Path == "/account" || r.Method == http.MethodPatch {
			statuses = append(statuses, r.Status)
		}
	}
	if len(statuses) != 4 || statuses[0] != 429 || statuses[1] != 200 || statuses[2] != 429 || statuses[3] != 200 {
		t.Errorf("statuses of the account and release requests = %v, want 429 200 429 200", statuses)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
	contains(t, "the output", w.out.String(), "rate limited (429); retrying")
}

func TestPreflightFailuresPushNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*world, *deploy.Config)
		want  []string
	}{
		{
			"wrong API key", func(_ *world, c *deploy.Config) { c.APIKey = "hk-wrong-key-0000" },
			[]string{"preflight", "unauthorized", "HEROKU_API_KEY was refused"},
		},
		{
			"app missing", func(_ *world, c *deploy.Config) { c.App = "oc-missing" },
			[]string{"not_found", `app "oc-missing" does not exist`, "mage heroku:create"},
		},
		{"wrong stack", func(w *world, c *deploy.Config) {
			w.heroku.AddApp(herokutest.App{Name: "oc-slug", Stack: "heroku-24"})
			c.App = "oc-slug"
		}, []string{"app oc-slug is on the heroku-24 stack", "heroku stack:set container -a oc-slug", "mage heroku:create"}},
		{"Heroku down", func(w *world, _ *deploy.Config) {
			w.heroku.Fail(herokutest.Fault{Status: 503, Times: 10})
		}, []string{"unavailable", "status.heroku.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			cfg := w.config()
			tc.setup(w, &cfg)
			_, err := w.run(cfg)
			if err == nil {
				t.Fatal("deploy succeeded")
			}
			contains(t, "the error", err.Error(), tc.want...)
			if calls := w.engine.Calls(); len(calls) != 0 {
				t.Errorf("engine calls after a failed preflight: %v", calls)
			}
			if strings.Contains(err.Error(), "hk-wrong-key-0000") || strings.Contains(w.out.String(), "hk-wrong-key-0000") {
				t.Error("the wrong key is shown")
			}
		})
	}
}

func TestImageIsPulledWhenMissing(t *testing.T) {
	w := newWorld(t)
	w.engine.local = map[string]string{}
	w.engine.remote = map[string]string{imageRef: newImage}
	if _, err := w.run(w.config()); err != nil {
		t.Fatalf("deploy failed: %v\n%s", err, w.out)
	}
	if calls := w.engine.Calls(); len(calls) == 0 || calls[0] != "pull "+imageRef+" as alice" {
		t.Errorf("engine calls = %v, want a pull of %s with the Docker Hub user first", calls, imageRef)
	}
	contains(t, "the output", w.out.String(), "image "+imageRef+" is not in the local engine: pulling it")
}

func TestImageNowhere(t *testing.T) {
	w := newWorld(t)
	w.engine.local = map[string]string{}
	_, err := w.run(w.config())
	if err == nil {
		t.Fatal("deploy succeeded without an image")
	}
	contains(t, "the error", err.Error(), "neither in the local engine nor in its registry", "run mage build push first", "build-and-push job")
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

func TestRegistryRefusesTheKey(t *testing.T) {
	w := newWorld(t)
	w.engine.key = "another-key"
	_, err := w.run(w.config())
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "pushing "+herokuReg+"/oc-web/web:latest", "the registry "+herokuReg+" refused the credentials for user _",
		"check HEROKU_API_KEY", "nothing was released")
	for _, r := range w.heroku.Requests() {
		if r.Method == http.MethodPatch {
			t.Error("released after a refused push")
		}
	}
}

func TestReleaseRequestErrors(t *testing.T) {
	t.Run("a 500 after Heroku made the release", func(t *testing.T) {
		w := newWorld(t)
		w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 500, Processed: true})
		if _, err := w.run(w.config()); err != nil {
			t.Fatalf("deploy failed: %v", err)
		}
		contains(t, "the output", w.out.String(), "the release request failed", "but Heroku made v2: following it", "health ok")
		equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
	})
	t.Run("a 500 before", func(t *testing.T) {
		w := newWorld(t)
		w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 500})
		_, err := w.run(w.config())
		if err == nil {
			t.Fatal("deploy succeeded")
		}
		contains(t, "the error", err.Error(), "internal_server_error", "nothing was released")
		equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
	})
}

func TestSentryFailureOnlyWarns(t *testing.T) {
	w := newWorld(t)
	w.sentry.FailWith(http.StatusInternalServerError)
	if _, err := w.run(w.config()); err != nil {
		t.Fatalf("a Sentry failure failed the deploy: %v", err)
	}
	contains(t, "the output", w.out.String(), "warning: the deploy succeeded, but Sentry release oc-lettings@v1.3.0 was not recorded", "HTTP 500")
}

func TestNoSentryWithoutItsSettings(t *testing.T) {
	w := newWorld(t)
	cfg := w.config()
	cfg.Sentry.Token = ""
	if _, err := w.run(cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(w.sentry.Requests()); n != 0 {
		t.Errorf("%d Sentry requests without a token", n)
	}
}

func TestFirstDeployThatFailsSaysThereIsNothingToRollBackTo(t *testing.T) {
	w := newWorld(t)
	w.heroku.AddApp(herokutest.App{Name: "oc-fresh", WebURL: w.site.URL + "/"})
	w.heroku.PlanRelease(herokutest.ReleasePlan{Status: heroku.StatusFailed})
	cfg := w.config()
	cfg.App = "oc-fresh"
	_, err := w.run(cfg)
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || rb.Previous != nil || rb.RolledBack() {
		t.Fatalf("err = %v, want a RollbackError without a previous release", err)
	}
	contains(t, "the error", err.Error(), "release v1 failed", "there is no earlier release to roll back to", "heroku releases -a oc-fresh")
}

func TestHealthURLOverride(t *testing.T) {
	w := newWorld(t)
	w.heroku.SetWebURL(app, "https://oc-web.herokuapp.com/") // unreachable from here
	cfg := w.config()
	cfg.HealthURL = w.site.URL + "/healthz"
	res, err := w.run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.HealthURL != cfg.HealthURL {
		t.Errorf("checked %s, want %s", res.HealthURL, cfg.HealthURL)
	}
}

func TestVerboseShowsTheReleasePhaseLive(t *testing.T) {
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: 3, Output: "Running release command...\nmigrations applied\n"})
	d := deploy.New(w.config(), w.engine, w.out, true)
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	contains(t, "the verbose output", w.out.String(), "migrations applied", "pushed "+herokuReg)
}

func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(*world)
		waitFor  string // output that means the deploy reached the step to interrupt
		rollback bool   // whether the fake should accept the rollback
		want     []string
		releases []string
	}{
		{
			name:     "while the release is pending",
			setup:    func(w *world) { w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: -1}) },
			waitFor:  "release v2 pending",
			rollback: true,
			want: []string{
				"deploy interrupted while waiting for v2 to be released: v2 was pending, v1 was current before",
				"rolled back: v3 (rollback to v1, the release current before this deploy) succeeded",
			},
			releases: []string{"v1 succeeded", "v2 pending", "v3 succeeded current"},
		},
		{
			name:     "during the health check",
			setup:    func(w *world) { w.stick(oldCommit) },
			waitFor:  "release v2 succeeded",
			rollback: true,
			want:     []string{"while checking that v2 serves the new commit: v2 had succeeded, v1 was current before", "rolled back: v3"},
			releases: []string{"v1 succeeded", "v2 succeeded", "v3 succeeded current"},
		},
		{
			name: "when the rollback fails too",
			setup: func(w *world) {
				w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: -1})
				w.heroku.Fail(herokutest.Fault{Method: "POST", Status: 503})
			},
			waitFor: "release v2 pending",
			want: []string{
				"v2 was pending, v1 was current before", "ROLLBACK FAILED",
				"roll back by hand with heroku rollback v1 -a oc-web",
			},
			releases: []string{"v1 succeeded current", "v2 pending"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w)
			cfg := w.config()
			cfg.HealthTimeout = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for !strings.Contains(w.out.String(), tc.waitFor) {
					select {
					case <-ctx.Done(): // the test ended without the text showing
						return
					case <-time.After(time.Millisecond):
					}
				}
				time.Sleep(20 * time.Millisecond)
				cancel() // Ctrl-C
			}()
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err = w.deployer(cfg).Run(ctx)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("deploy did not stop after the interruption:\n%s", w.out)
			}
			w.noSecrets(err)
			var rb *deploy.RollbackError
			if !errors.As(err, &rb) || !rb.Interrupted || rb.RolledBack() != tc.rollback {
				t.Fatalf("err = %v, want an interrupted RollbackError, rolled back: %v", err, tc.rollback)
			}
			contains(t, "the error", err.Error(), tc.want...)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("errors.Is(err, context.Canceled) is false for %v", err)
			}
			contains(t, "the output", w.out.String(), "interrupted while ")
			equal(t, "releases", w.releases(), tc.releases)
		})
	}
}

// An interruption before the release request leaves nothing behind.
func TestInterruptedBeforeReleasing(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := w.deployer(w.config()).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

func TestPullRefused(t *testing.T) {
	w := newWorld(t)
	w.engine.local = map[string]string{}
	w.engine.remote = map[string]string{imageRef: newImage}
	cfg := w.config()
	cfg.PullAuth.Password = "not-the-password"
	_, err := w.run(cfg)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "pulling image "+imageRef, "refused the credentials for user alice", "check DOCKERHUB_USERNAME and DOCKERHUB_PASS")
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

// Without DOCKERHUB_USERNAME the image has a local name, which is never
// pulled: Docker Hub would answer with its official image of that name.
func TestLocalNameIsNotPulled(t *testing.T) {
	w := newWorld(t)
	w.engine.local = map[string]string{}
	cfg := w.config()
	cfg.Image = "oc-lettings:" + newCommit
	_, err := w.run(cfg)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "image oc-lettings:"+newCommit+" is not in the local engine", "without DOCKERHUB_USERNAME", "mage build")
	if calls := w.engine.Calls(); len(calls) != 0 {
		t.Errorf("engine calls = %v, want none", calls)
	}
}

// Ctrl-C while the release request is in flight: whether Heroku made the
// release is found out, and it is rolled back.
func TestInterruptedDuringTheReleaseRequest(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lostAnswer := roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if r.Method != http.MethodPatch || err != nil {
			return resp, err
		}
		_ = resp.Body.Close()
		cancel() // Ctrl-C after Heroku made the release, before its answer arrives
		<-r.Context().Done()
		return nil, r.Context().Err()
	})
	cfg := w.config()
	d := w.deployer(cfg)
	d.Heroku = heroku.New(heroku.Config{APIURL: cfg.APIURL, APIKey: cfg.APIKey, Transport: lostAnswer})
	_, err := d.Run(ctx)
	w.noSecrets(err)
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Interrupted || !rb.RolledBack() {
		t.Fatalf("err = %v, want an interrupted deploy, rolled back", err)
	}
	contains(t, "the error", err.Error(), "deploy interrupted while asking Heroku to release the image: v2 had succeeded, v1 was current before")
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded", "v3 succeeded current"})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
