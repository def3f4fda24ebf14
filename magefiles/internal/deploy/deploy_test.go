package deploy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

func TestHappyPath(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: 2, Output: "Running release command...\nok\n", StreamMissing: 1})
	res, err := w.run(w.platform(apiKey), w.config())
	if err != nil {
		t.Fatalf("deploy failed: %v\n%s", err, w.out)
	}
	if res.Release != "v2" || res.Version != newVersion || res.Unchanged {
		t.Errorf("result = %+v", res)
	}

	equal(t, "Platform API calls", w.apiCalls(), []string{
		"GET /account",
		"GET /apps/oc-web",
		"GET /apps/oc-web/releases [version ..; max=10,order=desc]",
		"PATCH /apps/oc-web/formation",
		"GET /apps/oc-web/releases [version ..; max=1,order=desc]",
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
	want := `{"updates":[{"type":"web","docker_image":"` + res.Copied.ConfigDigest + `"}]}`
	if patch.Accept != herokutest.AcceptDockerReleases || strings.TrimSpace(patch.Body) != want {
		t.Errorf("release request: Accept %q, body %s; want %s", patch.Accept, patch.Body, want)
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
		"copied "+w.source(newCommit).Ref+" to "+w.reg.Host+"/oc-web/web:latest (digest sha256:",
		"3 of 3 blobs sent",
		"release v2 pending",
		"release v2 succeeded",
		"health ok: "+w.site.URL+"/healthz reports commit 222222222222 (v1.3.0)",
		"Sentry release oc-lettings@v1.3.0 recorded, deployed to production",
		"deployed 222222222222 to oc-web as v2 in ",
	)
	if strings.Contains(out, "Running release command") {
		t.Error("the release phase output is shown without -v on success")
	}
	if n := strings.Count(out, "\n"); n != 7 {
		t.Errorf("%d lines of output, want 7, one per step:\n%s", n, out)
	}
}

// The same image again uploads nothing and makes no release.
func TestSameImageAgainMakesNoRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.run(w.platform(apiKey), w.config()); err != nil {
		t.Fatal(err)
	}
	uploads, sentryBefore := w.uploads(), len(w.sentry.Requests())
	if uploads == 0 {
		t.Fatalf("the first deploy uploaded nothing to Heroku's registry: counting proves nothing\n%s", w.reg.Log())
	}
	res, err := w.run(w.platform(apiKey), w.config())
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !res.Unchanged || res.Release != "v2" || res.Copied.BlobsSent != 0 || res.Copied.BytesSent != 0 {
		t.Errorf("result = %+v, want Unchanged with v2 and nothing sent", res)
	}
	if n := w.uploads(); n != uploads {
		t.Errorf("Heroku's registry saw %d more uploads", n-uploads)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
	contains(t, "the output", w.out.String(), "0 of 3 blobs sent, 0B)", "image already released as v2: nothing to release\nhealth ok: ")
	if n := len(w.sentry.Requests()); n != sentryBefore {
		t.Errorf("Sentry was called for a deploy that released nothing")
	}
}

// The same image again, when what runs does not serve the commit (a deploy
// that failed with nothing to roll back to, say), is not a success.
func TestSameImageAgainStillChecksHealth(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.run(w.platform(apiKey), w.config()); err != nil {
		t.Fatal(err)
	}
	w.stick(oldCommit)
	cfg := w.config()
	cfg.HealthTimeout = 50 * time.Millisecond
	res, err := w.run(w.platform(apiKey), cfg)
	if err == nil || !res.Unchanged {
		t.Fatalf("second deploy: %+v, %v; want unchanged and failed", res, err)
	}
	contains(t, "the error", err.Error(), "did not report commit 222222222222", "v2 already runs this image, so nothing was changed", "heroku logs -a oc-web")
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
}

func TestFailedReleaseIsRolledBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{
		Status: heroku.StatusFailed, Polls: 1,
		Output: "Running release command...\nmigrating\npanic: relation does not exist\n",
	})
	_, err := w.run(w.platform(apiKey), w.config())
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || rb.Err != nil {
		t.Fatalf("err = %v, want a RollbackError with the app rolled back", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 failed", "v3 succeeded current"})
	if last := w.heroku.Releases(app)[2]; last.Description != "Rollback to v1" || last.Image != w.heroku.Releases(app)[0].Image {
		t.Errorf("v3 = %+v, want a rollback to v1", last)
	}
	contains(t, "the error", err.Error(),
		"release v2 failed: its release phase did not succeed",
		"panic: relation does not exist",
		"rolled back: v3 (rollback to v1, the release current before this deploy) succeeded")
	contains(t, "the output", w.out.String(), "release v2 failed\nrolling back: v3 (rollback to v1, the release current before this deploy) ")
	if len(w.sentry.Requests()) != 0 {
		t.Error("Sentry was told about a release that failed")
	}
}

func TestHealthCheckFailureIsRolledBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.stick(oldCommit) // the new release succeeds, but the site keeps serving the old commit
	cfg := w.config()
	cfg.HealthTimeout = 100 * time.Millisecond
	_, err := w.run(w.platform(apiKey), cfg)
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || rb.Err != nil {
		t.Fatalf("err = %v, want a RollbackError with the app rolled back", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded", "v3 succeeded current"})
	contains(t, "the error", err.Error(),
		"health check: "+w.site.URL+"/healthz did not report commit 222222222222 within 100ms",
		`status "ok", version "v1.2.0", commit "1111111111111111111111111111111111111111"`,
		"rolled back: v3 (rollback to v1")
}

func TestRateLimitedThenSucceeds(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.Fail(herokutest.Fault{Method: "GET", Path: "/account", Status: 429, RetryAfter: "0"})
	w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 429})
	if _, err := w.run(w.platform(apiKey), w.config()); err != nil {
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

func TestPreflightFailuresUploadNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*world, *heroku.Platform)
		want  []string
	}{
		{
			"wrong API key", func(w *world, p *heroku.Platform) { *p = *w.platform("hk-wrong-key-0000") },
			[]string{"preflight", "unauthorized", "HEROKU_API_KEY was refused", settings.HerokuRefused},
		},
		{
			"app missing", func(_ *world, p *heroku.Platform) { p.App = "oc-missing" },
			[]string{"not_found", `app "oc-missing" does not exist`, "mage heroku:create"},
		},
		{"wrong stack", func(w *world, p *heroku.Platform) {
			w.heroku.AddApp(herokutest.App{Name: "oc-slug", Stack: "heroku-24"})
			p.App = "oc-slug"
		}, []string{"app oc-slug is on the heroku-24 stack", "heroku stack:set container -a oc-slug", "mage heroku:create"}},
		{"a Fir app", func(w *world, p *heroku.Platform) {
			w.heroku.AddApp(herokutest.App{Name: "oc-fir", Generation: "fir"})
			p.App = "oc-fir"
		}, []string{
			"app oc-fir is of Heroku's fir generation, which deploys from buildpacks", "not from container images",
			"create a Cedar app for this site with mage heroku:create",
		}},
		{"Heroku down", func(w *world, _ *heroku.Platform) {
			w.heroku.Fail(herokutest.Fault{Status: 503, Times: 10})
		}, []string{"unavailable", "status.heroku.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			p := w.platform(apiKey)
			tc.setup(w, p)
			_, err := w.run(p, w.config())
			if err == nil {
				t.Fatal("deploy succeeded")
			}
			contains(t, "the error", err.Error(), tc.want...)
			// Publishing the images before only wrote to Docker Hub's stand-in.
			if strings.Contains(w.hub.Log(), `"GET /v2/`+w.hub.User+"/oc-lettings/manifests/") || strings.Contains(w.reg.Log(), "/v2/"+app+"/") {
				t.Errorf("the registries were used after a failed preflight:\n%s\n%s", w.hub.Log(), w.reg.Log())
			}
			if strings.Contains(err.Error()+w.out.String(), "hk-wrong-key-0000") {
				t.Error("the wrong key is shown")
			}
		})
	}
}

// A Heroku API that accepts connections and never answers fails the
// deploy within the preflight's bound, with a message that says so.
func TestSilentAPIFailsThePreflightInTime(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var lc net.ListenConfig
	silent, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Close() }()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }() // held open, never answered
		}
	}()
	p := w.platform(apiKey)
	p.Client, err = heroku.New(heroku.Config{APIURL: "http://" + silent.Addr().String(), APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.config()
	cfg.PreflightTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = w.run(p, cfg)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s, want about the preflight's bound", took)
	}
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "preflight: no answer within 300ms, so nothing was uploaded", "API URL")
}

func TestImageNeverPushed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.config()
	cfg.Commit = "3333333333333333333333333333333333333333"
	cfg.Source = w.source(cfg.Commit)
	_, err := w.run(w.platform(apiKey), cfg)
	if err == nil {
		t.Fatal("deploy succeeded without an image")
	}
	contains(t, "the error", err.Error(), "there is no image "+cfg.Source.Ref, "built for commit 333333333333",
		"run mage build push first", "build-and-push job", "nothing was released")
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

func TestSourceRefusesTheCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.config()
	cfg.Source.Password = "not-the-password"
	_, err := w.run(w.platform(apiKey), cfg)
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "reading image "+cfg.Source.Ref, "refused the credentials for user "+w.hub.User, settings.DockerHubRefused, "nothing was released")
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

func TestHerokuRegistryRefusesTheKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p := w.platform(apiKey)
	p.APIKey = "another-key" // the API takes the key, the registry does not
	_, err := w.run(p, w.config())
	if err == nil {
		t.Fatal("deploy succeeded")
	}
	contains(t, "the error", err.Error(), "writing image "+w.reg.Host+"/oc-web/web:latest",
		"the registry "+w.reg.Host+" refused the credentials for user _", settings.HerokuRefused, "nothing was released")
	for _, r := range w.heroku.Requests() {
		if r.Method == http.MethodPatch {
			t.Error("released after a refused copy")
		}
	}
}

func TestReleaseRequestErrors(t *testing.T) {
	t.Parallel()
	t.Run("a 500 after Heroku made the release", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 500, Processed: true})
		if _, err := w.run(w.platform(apiKey), w.config()); err != nil {
			t.Fatalf("deploy failed: %v", err)
		}
		contains(t, "the output", w.out.String(), "the release request failed", "but Heroku made v2: following it", "health ok")
		equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded current"})
	})
	t.Run("a 500 before", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.heroku.Fail(herokutest.Fault{Method: "PATCH", Status: 500})
		_, err := w.run(w.platform(apiKey), w.config())
		if err == nil {
			t.Fatal("deploy succeeded")
		}
		contains(t, "the error", err.Error(), "internal_server_error", "nothing was released")
		equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
	})
}

func TestSentryFailureOnlyWarns(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.sentry.FailWith(http.StatusInternalServerError)
	if _, err := w.run(w.platform(apiKey), w.config()); err != nil {
		t.Fatalf("a Sentry failure failed the deploy: %v", err)
	}
	contains(t, "the output", w.out.String(), "warning: the deploy succeeded, but Sentry release oc-lettings@v1.3.0 was not recorded", "HTTP 500")
}

func TestNoSentryWithoutItsSettings(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.config()
	cfg.Sentry = nil
	if _, err := w.run(w.platform(apiKey), cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(w.sentry.Requests()); n != 0 {
		t.Errorf("%d Sentry requests without its settings", n)
	}
}

func TestFirstDeployThatFailsSaysThereIsNothingToRollBackTo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.AddApp(herokutest.App{Name: "oc-fresh", WebURL: w.site.URL + "/"})
	w.heroku.PlanRelease(herokutest.ReleasePlan{Status: heroku.StatusFailed})
	p := w.platform(apiKey)
	p.App = "oc-fresh"
	_, err := w.run(p, w.config())
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || rb.Err == nil {
		t.Fatalf("err = %v, want a RollbackError without a rollback", err)
	}
	contains(t, "the error", err.Error(), "release v1 failed", "there is no earlier release to roll back to", "heroku releases -a oc-fresh")
}

func TestHealthURLOverride(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.SetWebURL(app, "https://oc-web.herokuapp.com/") // unreachable from here
	cfg := w.config()
	cfg.HealthURL = w.site.URL + "/healthz"
	if _, err := w.run(w.platform(apiKey), cfg); err != nil {
		t.Fatal(err)
	}
	contains(t, "the output", w.out.String(), "health ok: "+cfg.HealthURL)
}

func TestVerboseShowsTheReleasePhaseLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.heroku.PlanRelease(herokutest.ReleasePlan{Polls: 3, Output: "Running release command...\nmigrations applied\n"})
	p := w.platform(apiKey)
	p.Verbose = true
	if _, err := w.run(p, w.config()); err != nil {
		t.Fatal(err)
	}
	contains(t, "the verbose output", w.out.String(), "migrations applied")
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
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
				"deploy interrupted while following v2",
				"rolled back: v3 (rollback to v1, the release current before this deploy) is succeeded",
			},
			releases: []string{"v1 succeeded", "v2 pending", "v3 succeeded current"},
		},
		{
			name:     "during the health check",
			setup:    func(w *world) { w.stick(oldCommit) },
			waitFor:  "release v2 succeeded",
			rollback: true,
			want:     []string{"deploy interrupted while checking that v2 serves the new commit", "rolled back: v3"},
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
				"deploy interrupted while following v2", "ROLLBACK FAILED", "the app may be left on v2",
				"roll back by hand with heroku rollback v1 -a oc-web",
			},
			releases: []string{"v1 succeeded current", "v2 pending"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
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
				_, err = deploy.Run(ctx, w.platform(apiKey), cfg)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("deploy did not stop after the interruption:\n%s", w.out)
			}
			w.noSecrets(err)
			var rb *deploy.RollbackError
			if !errors.As(err, &rb) || (rb.Err == nil) != tc.rollback {
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
	t.Parallel()
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := deploy.Run(ctx, w.platform(apiKey), w.config())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	equal(t, "releases", w.releases(), []string{"v1 succeeded current"})
}

// Ctrl-C while the release request is in flight: whether Heroku made the
// release is found out, and it is rolled back.
func TestInterruptedDuringTheReleaseRequest(t *testing.T) {
	t.Parallel()
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
	p := w.platform(apiKey)
	var err error
	if p.Client, err = heroku.New(heroku.Config{APIURL: w.heroku.URL, APIKey: apiKey, Transport: lostAnswer}); err != nil {
		t.Fatal(err)
	}
	_, err = deploy.Run(ctx, p, w.config())
	w.noSecrets(err)
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || rb.Err != nil {
		t.Fatalf("err = %v, want an interrupted deploy, rolled back", err)
	}
	contains(t, "the error", err.Error(), "deploy interrupted while asking for the release", "rolled back: v3 (rollback to v1")
	equal(t, "releases", w.releases(), []string{"v1 succeeded", "v2 succeeded", "v3 succeeded current"})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
