package heroku_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

const key = "hk-test-0123456789abcdef"

// fastRetry keeps retry tests quick while keeping their shape.
var fastRetry = heroku.RetryPolicy{Attempts: 4, MinDelay: time.Millisecond, MaxDelay: 2 * time.Second}

func newFake(t *testing.T) (*herokutest.Server, *heroku.Client) {
	t.Helper()
	fake := herokutest.NewServer(key)
	t.Cleanup(fake.Close)
	return fake, newClient(t, heroku.Config{APIURL: fake.URL, APIKey: key, Retry: fastRetry})
}

func newClient(t *testing.T, cfg heroku.Config) *heroku.Client {
	t.Helper()
	c, err := heroku.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noKey fails the test when s holds the API key.
func noKey(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, key) {
		t.Errorf("%s shows the API key: %s", what, s)
	}
}

func TestAccountAcceptsTheKey(t *testing.T) {
	fake, c := newFake(t)
	acct, err := c.Account(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if acct.Email != herokutest.Email {
		t.Errorf("Email = %q, want %q", acct.Email, herokutest.Email)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 || reqs[0].String() != "GET /account" || reqs[0].Auth != "bearer" || reqs[0].Accept != herokutest.Accept {
		t.Errorf("requests = %+v, want one GET /account with the bearer token and the v3 Accept", reqs)
	}
}

func TestWrongKeyIsReportedClearly(t *testing.T) {
	fake := herokutest.NewServer("the-right-key")
	defer fake.Close()
	c := newClient(t, heroku.Config{APIURL: fake.URL, APIKey: key, Retry: fastRetry})
	_, err := c.Account(context.Background())
	if apiErr, ok := errors.AsType[*heroku.APIError](err); !ok || apiErr.Status != 401 {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	for _, want := range []string{"unauthorized", "Invalid credentials provided", "HTTP 401", "HEROKU_API_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	noKey(t, "the error", err.Error())
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests for a refused key, want 1 (a 401 is not retried)", n)
	}
}

func TestApp(t *testing.T) {
	fake, c := newFake(t)
	fake.AddApp(herokutest.App{Name: "oc-web", Stack: "heroku-24", BuildStack: "container"})
	app, err := c.App(context.Background(), "oc-web")
	if err != nil {
		t.Fatal(err)
	}
	want := heroku.App{Name: "oc-web", Stack: "heroku-24", BuildStack: "container", Generation: "cedar", WebURL: "https://oc-web.herokuapp.com/"}
	if app != want {
		t.Errorf("App = %+v, want %+v", app, want)
	}
	if !app.IsContainer() {
		t.Error("an app whose build stack is container is not IsContainer")
	}

	_, err = c.App(context.Background(), "no-such-app")
	if !heroku.IsNotFound(err) {
		t.Fatalf("missing app: err = %v, want not_found", err)
	}
	for _, want := range []string{"not_found", "Couldn't find that app", "HEROKU_APP_NAME", "mage heroku:create"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNoKeySendsNothing(t *testing.T) {
	fake, _ := newFake(t)
	if _, err := heroku.New(heroku.Config{APIURL: fake.URL, APIKey: " "}); err == nil || !strings.Contains(err.Error(), "HEROKU_API_KEY") {
		t.Errorf("err = %v, want one naming HEROKU_API_KEY", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests sent without a key, want none", n)
	}
}

func TestReleasesNewestFirst(t *testing.T) {
	fake, c := newFake(t)
	fake.AddApp(herokutest.App{Name: "oc-web"})
	for i := 0; i < 25; i++ {
		fake.AddRelease("oc-web", digestOf(i), heroku.StatusSucceeded)
	}
	list, err := c.Releases(context.Background(), "oc-web", 3)
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	for _, r := range list {
		versions = append(versions, r.Version)
	}
	if len(versions) != 3 || versions[0] != 25 || versions[1] != 24 || versions[2] != 23 {
		t.Errorf("versions = %v, want [25 24 23]", versions)
	}
	if !list[0].Current || list[1].Current {
		t.Errorf("current flags = %v %v, want only the newest current", list[0].Current, list[1].Current)
	}
	if got := fake.Requests()[0].Range; got != "version ..; max=3,order=desc" {
		t.Errorf("Range = %q", got)
	}
}

func TestReleaseImage(t *testing.T) {
	fake, c := newFake(t)
	ctx := context.Background()
	images := &herokutest.ImageMap{}
	fake.SetImages(images)
	fake.AddApp(herokutest.App{Name: "oc-web"})
	image := digestOf(1)

	err := c.ReleaseImage(ctx, "oc-web", "web", image)
	if err == nil || !strings.Contains(err.Error(), "invalid_params") {
		t.Errorf("releasing an image never pushed: err = %v, want invalid_params", err)
	}
	images.Set("oc-web", image)
	if err := c.ReleaseImage(ctx, "oc-web", "web", image); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseImage(ctx, "oc-web", "web", image); err != nil {
		t.Fatal(err)
	}
	if rels := fake.Releases("oc-web"); len(rels) != 1 || rels[0].Image != image || !rels[0].Current {
		t.Errorf("releases = %+v, want one current release of %s (the same image twice makes one release)", rels, image)
	}
	last := fake.Requests()[len(fake.Requests())-1]
	want := `{"updates":[{"type":"web","docker_image":"` + image + `"}]}`
	if last.Accept != herokutest.AcceptDockerReleases || strings.TrimSpace(last.Body) != want || last.ContentType != "application/json" {
		t.Errorf("release request: Accept %q, Content-Type %q, body %s; want the docker-releases Accept and %s", last.Accept, last.ContentType, last.Body, want)
	}

	if err := c.ReleaseImage(ctx, "oc-web", "web", "latest"); err == nil {
		t.Error("releasing a tag instead of an image ID: no error")
	}
}

func TestRollback(t *testing.T) {
	fake, c := newFake(t)
	ctx := context.Background()
	fake.AddApp(herokutest.App{Name: "oc-web"})
	v1 := fake.AddRelease("oc-web", digestOf(1), heroku.StatusSucceeded)
	fake.AddRelease("oc-web", digestOf(2), heroku.StatusSucceeded)
	fake.PlanRelease(herokutest.ReleasePlan{Polls: 1})

	rel, err := c.Rollback(ctx, "oc-web", v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 3 || rel.Status != heroku.StatusPending || rel.Description != "Rollback to v1" {
		t.Errorf("rollback = %+v, want v3 pending, Rollback to v1", rel)
	}
	if body := fake.Requests()[0].Body; strings.TrimSpace(body) != `{"release":"`+v1.ID+`"}` {
		t.Errorf("rollback body = %s", body)
	}
	for range 2 { // pending once, then done
		if rel, err = c.Release(ctx, "oc-web", rel.ID); err != nil {
			t.Fatal(err)
		}
	}
	if rel.Status != heroku.StatusSucceeded || !rel.Current {
		t.Errorf("after a poll: %+v, want succeeded and current", rel)
	}
}

// Follow stops at the release timeout, or when its context ends, with
// the release still pending.
func TestFollowStops(t *testing.T) {
	for _, tc := range []struct {
		name       string
		timeout    time.Duration // the release timeout
		ctxTimeout time.Duration // when the context ends
		want       string
	}{
		{"at the release timeout", 20 * time.Millisecond, 3 * time.Second, "release v1 is still pending after 20ms"},
		{"when the context ends", time.Hour, 50 * time.Millisecond, context.DeadlineExceeded.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := newFake(t)
			fake.AddApp(herokutest.App{Name: "oc-web"})
			images := &herokutest.ImageMap{}
			images.Set("oc-web", digestOf(1))
			fake.SetImages(images)
			fake.PlanRelease(herokutest.ReleasePlan{Polls: -1})
			p := &heroku.Platform{Client: c, App: "oc-web", Out: io.Discard, ReleaseTimeout: tc.timeout, PollInterval: 5 * time.Millisecond}
			if _, _, err := p.Release(context.Background(), registry.Copied{ConfigDigest: digestOf(1)}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctxTimeout)
			defer cancel()
			start := time.Now()
			if err := p.Follow(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Follow: %v, want %q", err, tc.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Follow took %s", took)
			}
		})
	}
}

func digestOf(i int) string {
	const hex = "0123456789abcdef"
	return "sha256:" + strings.Repeat(string(hex[i%16]), 63) + string(hex[(i/16)%16])
}

// The release to go back to is the newest marked current among the ten
// newest, found by one request before the release.
func TestRollbackGoesBackToTheCurrentRelease(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed int    // how many of the app's 30 newest releases failed
		want   string // in what Rollback says
	}{
		{"current among the newest", 6, "v32 (rollback to v24, the release current before this deploy) succeeded"},
		{"none of the newest ten current", 12, "v31 is failed and there is no earlier release to roll back to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := newFake(t)
			ctx := context.Background()
			fake.AddApp(herokutest.App{Name: "oc-web"})
			for i := 0; i < 30; i++ {
				status := heroku.StatusSucceeded
				if i >= 30-tc.failed {
					status = heroku.StatusFailed
				}
				fake.AddRelease("oc-web", digestOf(i), status)
			}
			images := &herokutest.ImageMap{}
			images.Set("oc-web", digestOf(99))
			fake.SetImages(images)
			fake.PlanRelease(herokutest.ReleasePlan{Status: heroku.StatusFailed})

			p := &heroku.Platform{Client: c, App: "oc-web", Out: io.Discard, PollInterval: time.Millisecond}
			if name, changed, err := p.Release(ctx, registry.Copied{ConfigDigest: digestOf(99)}); err != nil || name != "v31" || !changed {
				t.Fatalf("Release = %s, %v, %v; want v31 made", name, changed, err)
			}
			if first := fake.Requests()[0]; first.String() != "GET /apps/oc-web/releases" || first.Range != "version ..; max=10,order=desc" {
				t.Errorf("first request = %s [%s], want the newest ten releases", first, first.Range)
			}
			outcome, err := p.Rollback(ctx, true)
			if got := outcome + fmt.Sprint(err); !strings.Contains(got, tc.want) {
				t.Errorf("Rollback: %q, %v; want %q", outcome, err, tc.want)
			}
		})
	}
}
