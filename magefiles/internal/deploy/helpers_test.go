package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// Secrets the tests hand the deploy; none may appear in what it writes.
const (
	apiKey      = "hk-secret-key-4f1e2d3c"
	sentryToken = "sntrys-secret-token-5e6f"
)

const (
	app        = "oc-web"
	oldCommit  = "1111111111111111111111111111111111111111"
	newCommit  = "2222222222222222222222222222222222222222"
	newVersion = "v1.3.0"
)

// world is a deploy's surroundings: a real registry standing in for Docker
// Hub, holding the image of each commit; another for Heroku's, taking user
// "_" with the API key; the fake Platform API, with an app running the old
// commit, which checks every release against Heroku's registry; a fake
// Sentry; and the site, which reports the commit of whatever image Heroku
// has current.
type world struct {
	t      *testing.T
	hub    *testenv.Registry
	reg    *testenv.Registry // Heroku's
	heroku *herokutest.Server
	sentry *sentryreleasetest.Server
	site   *httptest.Server
	out    *testenv.Buffer

	mu      sync.Mutex
	commits map[string]string // config digest -> the commit the site reports running it
	stuck   string            // when set, the commit the site reports whatever runs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		t:       t,
		hub:     testenv.StartRegistry(t),
		reg:     testenv.StartRegistry(t, testenv.WithUser("_", apiKey)),
		heroku:  herokutest.NewServer(apiKey),
		sentry:  sentryreleasetest.NewServer(sentryToken, "acme", "oc-lettings"),
		out:     &testenv.Buffer{},
		commits: map[string]string{},
	}
	t.Cleanup(w.heroku.Close)
	t.Cleanup(w.sentry.Close)
	w.site = httptest.NewServer(http.HandlerFunc(w.healthz))
	t.Cleanup(w.site.Close)
	w.heroku.SetImages(herokutest.Registry{Host: w.reg.Host, User: "_", Password: apiKey})
	w.heroku.AddApp(herokutest.App{Name: app, WebURL: w.site.URL + "/"})
	w.heroku.AddRelease(app, w.publish(oldCommit, testenv.Image(t, false, "linux", "amd64")), heroku.StatusSucceeded)
	w.publish(newCommit, testenv.Image(t, false, "linux", "amd64"))
	return w
}

// publish puts image into the Docker Hub stand-in as commit's, as mage
// push does, and returns the config digest of its linux/amd64 image, which
// the site reports running commit.
func (w *world) publish(commit string, image remote.Taggable) string {
	w.t.Helper()
	w.hub.Put(w.t, w.source(commit).Ref, image)
	img, ok := image.(v1.Image)
	if idx, isIndex := image.(v1.ImageIndex); isIndex {
		m, err := idx.IndexManifest()
		if err != nil {
			w.t.Fatal(err)
		}
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Platform.Architecture == "amd64" {
				img, err = idx.Image(d.Digest)
				ok = err == nil
			}
		}
	}
	if !ok {
		return "" // no linux/amd64 image
	}
	config, err := img.ConfigName()
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.commits[config.String()] = commit
	return config.String()
}

// source is where deploy finds commit's image.
func (w *world) source(commit string) registry.Image {
	return registry.Image{Ref: w.hub.Host + "/" + w.hub.User + "/oc-lettings:" + commit, User: w.hub.User, Password: w.hub.Password}
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
	tracking, err := sentryrelease.New(sentryrelease.Config{URL: w.sentry.URL, Token: sentryToken, Org: "acme", Project: "oc-lettings"})
	if err != nil {
		w.t.Fatal(err)
	}
	return deploy.Config{
		Commit: newCommit, Version: newVersion,
		Source:            w.source(newCommit),
		Sentry:            tracking,
		SentryEnvironment: "production",
		Out:               w.out,
		HealthTimeout:     2 * time.Second,
		PollInterval:      time.Millisecond,
		RollbackWindow:    2 * time.Second,
	}
}

// platform is Heroku as mage deploy sets it up, with short waits.
func (w *world) platform(key string) *heroku.Platform {
	w.t.Helper()
	client, err := heroku.New(heroku.Config{
		APIURL: w.heroku.URL, APIKey: key, Retry: heroku.RetryPolicy{MinDelay: time.Millisecond},
		Logf: func(format string, args ...any) { fmt.Fprintf(w.out, format+"\n", args...) },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return &heroku.Platform{
		Client: client, App: app, Registry: w.reg.Host, APIKey: key, Out: w.out,
		Stream:         heroku.Stream{RetryEvery: time.Millisecond, WaitFor: 2 * time.Second},
		ReleaseTimeout: 5 * time.Second, PollInterval: time.Millisecond,
	}
}

func (w *world) run(p deploy.Platform, cfg deploy.Config) (deploy.Result, error) {
	w.t.Helper()
	res, err := deploy.Run(context.Background(), p, cfg)
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
		for _, secret := range []string{apiKey, w.hub.Password, sentryToken} {
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

// uploads counts the blob uploads Heroku's registry has logged.
func (w *world) uploads() int {
	return strings.Count(w.reg.Log(), "\"POST /v2/"+app+"/web/blobs/uploads/")
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
