package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// Secrets the tests hand the deploy; none may appear in what it writes.
const (
	apiKey      = "hk-secret-key-4f1e2d3c"
	hubPassword = "hub-secret-pass-9a8b7c"
	sentryToken = "sntrys-secret-token-5e6f"
)

const (
	app        = "oc-web"
	oldCommit  = "1111111111111111111111111111111111111111"
	newCommit  = "2222222222222222222222222222222222222222"
	herokuReg  = "registry.heroku.test"
	imageRef   = "alice/oc-lettings:" + newCommit
	newVersion = "v1.3.0"
)

var (
	oldImage = "sha256:" + strings.Repeat("a", 64)
	newImage = "sha256:" + strings.Repeat("b", 64)
)

// world is a deploy's surroundings: a fake Heroku with an app running the
// old commit, a fake Sentry, an engine holding the new image, and the
// site, which reports the commit of whatever release Heroku has current.
type world struct {
	t      *testing.T
	heroku *herokutest.Server
	images *herokutest.ImageMap
	sentry *sentryreleasetest.Server
	engine *fakeEngine
	site   *httptest.Server
	out    *testenv.Buffer

	mu      sync.Mutex
	commits map[string]string // image ID -> the commit the site reports running it
	stuck   string            // when set, the commit the site reports whatever runs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		t:       t,
		heroku:  herokutest.NewServer(apiKey),
		images:  &herokutest.ImageMap{},
		sentry:  sentryreleasetest.NewServer(sentryToken, "acme", "oc-lettings"),
		out:     &testenv.Buffer{},
		commits: map[string]string{oldImage: oldCommit, newImage: newCommit},
	}
	t.Cleanup(w.heroku.Close)
	t.Cleanup(w.sentry.Close)
	w.engine = &fakeEngine{local: map[string]string{imageRef: newImage}, key: apiKey, registry: herokuReg, pushed: w.images}
	w.site = httptest.NewServer(http.HandlerFunc(w.healthz))
	t.Cleanup(w.site.Close)

	w.heroku.SetImages(w.images)
	w.heroku.AddApp(herokutest.App{Name: app, WebURL: w.site.URL + "/"})
	w.heroku.AddRelease(app, oldImage, heroku.StatusSucceeded)
	return w
}

// healthz answers as the site does, for the image Heroku has current.
func (w *world) healthz(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		http.NotFound(rw, r)
		return
	}
	var image string
	for _, rel := range w.heroku.Releases(app) {
		if rel.Current {
			image = rel.Image
		}
	}
	w.mu.Lock()
	commit := w.commits[image]
	if w.stuck != "" {
		commit = w.stuck
	}
	w.mu.Unlock()
	if commit == "" {
		http.Error(rw, "no such app", http.StatusNotFound)
		return
	}
	version := "v1.2.0"
	if commit == newCommit {
		version = newVersion
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]string{"status": "ok", "version": version, "commit": commit})
}

// stick makes the site report commit whatever runs, as a broken or
// lagging router would.
func (w *world) stick(commit string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stuck = commit
}

// config is a deploy of newCommit with short waits.
func (w *world) config() deploy.Config {
	return deploy.Config{
		App:    app,
		APIURL: w.heroku.URL,
		APIKey: apiKey,
		Commit: newCommit, Version: newVersion,
		Image:          imageRef,
		PullAuth:       docker.Auth{Username: "alice", Password: hubPassword, ServerAddress: "docker.io"},
		HerokuRegistry: herokuReg,
		Sentry: sentryrelease.Config{
			URL: w.sentry.URL, Token: sentryToken, Org: "acme", Project: "oc-lettings",
		},
		SentryEnvironment: "production",
		ReleaseTimeout:    5 * time.Second,
		HealthTimeout:     2 * time.Second,
		PollInterval:      time.Millisecond,
		RollbackWindow:    2 * time.Second,
		Stream:            heroku.Stream{RetryEvery: time.Millisecond, WaitFor: 2 * time.Second},
		Retry:             heroku.RetryPolicy{MinDelay: time.Millisecond},
	}
}

func (w *world) deployer(cfg deploy.Config) *deploy.Deployer {
	return deploy.New(cfg, w.engine, w.out, false)
}

func (w *world) run(cfg deploy.Config) (deploy.Result, error) {
	w.t.Helper()
	res, err := w.deployer(cfg).Run(context.Background())
	w.noSecrets(err)
	return res, err
}

// noSecrets fails the test when any secret appears in the output or err.
func (w *world) noSecrets(err error) {
	w.t.Helper()
	texts := map[string]string{"output": w.out.String()}
	if err != nil {
		texts["error"] = err.Error()
	}
	for what, text := range texts {
		for _, secret := range []string{apiKey, hubPassword, sentryToken} {
			if strings.Contains(text, secret) {
				w.t.Errorf("the %s shows a secret (%.6s...):\n%s", what, secret, text)
			}
		}
	}
}

// apiCalls returns the Platform API requests as "METHOD /path", with
// consecutive repeats (polls) collapsed into one ending in " ...". The
// output streams, which are not the API, are left out.
func (w *world) apiCalls() []string {
	var out []string
	for _, r := range w.heroku.Requests() {
		if strings.HasPrefix(r.Path, "/streams/") {
			continue
		}
		s := r.String()
		if r.Range != "" {
			s += " [" + r.Range + "]"
		}
		if n := len(out); n > 0 && (out[n-1] == s || out[n-1] == s+" ...") {
			out[n-1] = s + " ..."
			continue
		}
		out = append(out, s)
	}
	return out
}

// releases summarises the app's releases as "v1 succeeded current".
func (w *world) releases() []string {
	var out []string
	for _, r := range w.heroku.Releases(app) {
		s := fmt.Sprintf("v%d %s", r.Version, r.Status)
		if r.Current {
			s += " current"
		}
		out = append(out, s)
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not mention %q:\n%s", what, want, text)
		}
	}
}

// fakeEngine stands in for the Docker engine in unit tests: a local image
// store, a registry to pull from, and a push that checks Heroku's
// credentials and records the image where the fake Heroku looks.
type fakeEngine struct {
	mu       sync.Mutex
	local    map[string]string // ref -> image ID
	remote   map[string]string // ref -> image ID, pullable with remoteAuth
	key      string            // the password Heroku's registry accepts
	registry string            // Heroku's registry host
	pushed   *herokutest.ImageMap
	calls    []string
}

var remoteAuth = docker.Auth{Username: "alice", Password: hubPassword, ServerAddress: "docker.io"}

func (e *fakeEngine) called(format string, args ...any) {
	e.calls = append(e.calls, fmt.Sprintf(format, args...))
}

func (e *fakeEngine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

func (e *fakeEngine) ImageID(_ context.Context, ref string) (string, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.local[ref]
	return id, ok, nil
}

func (e *fakeEngine) Pull(_ context.Context, ref string, auth docker.Auth, progress io.Writer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.called("pull %s as %s", ref, auth.Username)
	id, ok := e.remote[ref]
	if !ok {
		return &docker.NotFoundError{Ref: ref, Err: errors.New("manifest unknown")}
	}
	if auth != remoteAuth {
		return &docker.AuthError{Registry: auth.ServerAddress, User: auth.Username, Err: errors.New("incorrect username or password")}
	}
	fmt.Fprintf(progress, "pulled %s\n", ref)
	e.local[ref] = id
	return nil
}

func (e *fakeEngine) Tag(_ context.Context, source, target string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.called("tag %s %s", source, target)
	id, ok := e.local[source]
	if !ok {
		return errors.New("No such image: " + source)
	}
	e.local[target] = id
	return nil
}

func (e *fakeEngine) Push(_ context.Context, ref string, auth docker.Auth, progress io.Writer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.called("push %s as %s to %s", ref, auth.Username, auth.ServerAddress)
	if auth.Username != "_" || auth.Password != e.key || auth.ServerAddress != e.registry {
		return &docker.AuthError{Registry: auth.ServerAddress, User: auth.Username, Err: errors.New("authentication required")}
	}
	repo, ok := strings.CutSuffix(strings.TrimPrefix(ref, e.registry+"/"), "/web:latest")
	if !ok || strings.Contains(repo, "/") {
		return errors.New("push: unexpected reference " + ref)
	}
	fmt.Fprintf(progress, "pushed %s\n", ref)
	e.pushed.Set(repo, e.local[ref])
	return nil
}
