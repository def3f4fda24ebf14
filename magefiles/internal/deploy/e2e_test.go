package deploy_test

// End-to-end tests: the real Docker engine and a real registry standing in
// for both Docker Hub and registry.heroku.com, with the fake Platform API
// checking every release against that registry.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// stage is what an end-to-end deploy runs against.
type stage struct {
	raw    *client.Client
	engine *docker.Engine
	reg    *testenv.Registry
	heroku *herokutest.Server
	sentry *sentryreleasetest.Server
	app    string // unique Heroku app name
	image  string // unique image name
	env    map[string]string
}

func newStage(t testing.TB) *stage {
	t.Helper()
	raw := testenv.Docker(t)
	reg := testenv.StartRegistry(t, testenv.WithUser(docker.HerokuUser, apiKey))
	engine, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	s := &stage{
		raw: raw, engine: engine, reg: reg,
		heroku: herokutest.NewServer(apiKey),
		sentry: sentryreleasetest.NewServer(sentryToken, "acme", "oc-lettings"),
		app:    testenv.Unique(t, "oc-e2e-"),
		image:  testenv.Unique(t, "oc-e2e-"),
	}
	t.Cleanup(s.heroku.Close)
	t.Cleanup(s.sentry.Close)
	s.heroku.SetImages(herokutest.Registry{Host: reg.Host, User: docker.HerokuUser, Password: apiKey})
	s.env = map[string]string{
		"DOCKER_REGISTRY": reg.Host, "DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password,
		"IMAGE_NAME": s.image, "HEROKU_API_KEY": apiKey, "HEROKU_APP_NAME": s.app,
		"HEROKU_API_URL": s.heroku.URL, "HEROKU_REGISTRY": reg.Host,
		"SENTRY_AUTH_TOKEN": sentryToken, "SENTRY_ORG": "acme", "SENTRY_PROJECT": "oc-lettings", "SENTRY_URL": s.sentry.URL,
	}
	// Whatever the deploy tags for Heroku goes when the test ends.
	testenv.RemoveWhenDone(t, raw, docker.HerokuRepository(reg.Host, s.app)+":latest")
	return s
}

// config is the deploy of commit as mage deploy makes it, with short waits.
func (s *stage) config(t testing.TB, commit, version string) deploy.Config {
	t.Helper()
	cfg, err := deploy.FromEnv(settings.Map(s.env), gitinfo.Info{Commit: commit, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	cfg.PollInterval = 20 * time.Millisecond
	cfg.HealthTimeout = 30 * time.Second
	cfg.ReleaseTimeout = 30 * time.Second
	cfg.Stream = heroku.Stream{RetryEvery: 20 * time.Millisecond}
	return cfg
}

// ref is the image name deploy looks for, for commit.
func (s *stage) ref(commit string) string {
	return docker.Repository(s.reg.Host, s.reg.User, s.image) + ":" + commit
}

// publish pushes ref to the registry, as mage push does, and removes it
// from the engine when local is false, as on a fresh CI executor.
func (s *stage) publish(t testing.TB, ref string, local bool) {
	t.Helper()
	ctx := context.Background()
	auth := docker.Auth{Username: s.reg.User, Password: s.reg.Password, ServerAddress: s.reg.Host}
	if err := s.engine.Push(ctx, ref, auth, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !local {
		if _, err := s.raw.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEndToEnd deploys the real site: its image is built, pushed to the
// registry and removed from the engine; the deploy pulls it, pushes it to
// the registry as Heroku's, releases it, and checks the site's own
// /healthz, served by a container started from the released image.
func TestEndToEnd(t *testing.T) {
	s := newStage(t)
	commit, version := randomCommit(t), "v9.9.9-e2e"
	ref := s.ref(commit)
	id := buildSite(t, s.raw, ref, commit, version)
	s.publish(t, ref, false)

	s.heroku.AddApp(herokutest.App{Name: s.app})
	s.heroku.AddRelease(s.app, "sha256:"+strings.Repeat("0", 64), heroku.StatusSucceeded)
	router := newRouter(t, s, id)
	s.env["DEPLOY_HEALTH_URL"] = router.URL + "/healthz"

	var out testenv.Buffer
	start := time.Now()
	res, err := deploy.New(s.config(t, commit, version), s.engine, &out, false).Run(context.Background())
	t.Logf("deploy took %v:\n%s", time.Since(start), out.String())
	if err != nil {
		t.Fatalf("deploy failed: %v", err)
	}
	if res.Release.Version != 2 || res.Version != version {
		t.Errorf("result = %+v, want v2 reporting %s", res, version)
	}

	if got, found, err := s.engine.ImageID(context.Background(), ref); err != nil || !found || got != id {
		t.Errorf("after the deploy the engine has %s as %q (found %v, %v), want the pulled image %s", ref, got, found, err, id)
	}
	m, err := s.reg.Manifest(context.Background(), s.app+"/web", "latest")
	if err != nil || m.Config.Digest != id {
		t.Errorf("Heroku's registry has %s/web:latest with config %q (%v), want %s", s.app, m.Config.Digest, err, id)
	}
	rels := s.heroku.Releases(s.app)
	if len(rels) != 2 || rels[1].Image != id || !rels[1].Current {
		t.Errorf("releases = %+v, want v2 of %s current", rels, id)
	}
	if rel, ok := s.sentry.Release("oc-lettings@" + version); !ok || len(rel.Deploys) != 1 || rel.Ref != commit {
		t.Errorf("Sentry release = %+v, %v", rel, ok)
	}
	if !strings.Contains(s.reg.Log(), "GET /v2/"+s.reg.User+"/"+s.image+"/manifests/") {
		t.Errorf("the registry saw no pull of %s:\n%s", s.image, s.reg.Log())
	}
	for _, secret := range []string{apiKey, s.reg.Password, sentryToken} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the output shows a secret")
		}
	}
}

// TestEndToEndRegistryRefusesTheKey: the API accepts the key but Heroku's
// registry does not; nothing is released.
func TestEndToEndRegistryRefusesTheKey(t *testing.T) {
	s := newStage(t)
	commit := randomCommit(t)
	ref := s.ref(commit)
	buildTiny(t, s.raw, ref, commit)
	s.heroku.AddApp(herokutest.App{Name: s.app})
	cfg := s.config(t, commit, "v1")
	other := testenv.StartRegistry(t) // no "_" user: it refuses the key
	cfg.HerokuRegistry = other.Host
	testenv.RemoveWhenDone(t, s.raw, docker.HerokuRepository(other.Host, s.app)+":latest")

	var out testenv.Buffer
	_, err := deploy.New(cfg, s.engine, &out, false).Run(context.Background())
	if err == nil {
		t.Fatal("deploy succeeded with a key the registry refuses")
	}
	contains(t, "the error", err.Error(), "refused the credentials for user _", "check HEROKU_API_KEY", "nothing was released")
	for _, r := range s.heroku.Requests() {
		if r.Method == http.MethodPatch {
			t.Error("released after the registry refused the push")
		}
	}
	if strings.Contains(err.Error()+out.String(), apiKey) {
		t.Error("the key is shown")
	}
}

// TestEndToEndImageNeverPushed: the commit's image is nowhere.
func TestEndToEndImageNeverPushed(t *testing.T) {
	s := newStage(t)
	s.heroku.AddApp(herokutest.App{Name: s.app})
	_, err := deploy.New(s.config(t, randomCommit(t), "v1"), s.engine, io.Discard, false).Run(context.Background())
	if err == nil {
		t.Fatal("deploy succeeded without an image")
	}
	contains(t, "the error", err.Error(), "run mage build push first")
}

// BenchmarkDeploy measures a deploy against the local fakes with the image
// already built and in the engine: the tool's own time, with no deliberate
// wait (the release succeeds at once and the site reports the commit at
// once). Each iteration releases the other of two images, so each makes a
// new release.
func BenchmarkDeploy(b *testing.B) {
	s := newStage(b)
	s.heroku.AddApp(herokutest.App{Name: s.app})
	commits := []string{randomCommit(b), randomCommit(b)}
	ids := map[string]string{}
	for _, c := range commits {
		ids[buildTiny(b, s.raw, s.ref(c), c)] = c
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var commit string
		for _, r := range s.heroku.Releases(s.app) {
			if r.Current {
				commit = ids[r.Image]
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": "v1", "commit": commit})
	}))
	defer site.Close()
	s.env["DEPLOY_HEALTH_URL"] = site.URL + "/healthz"
	s.env["SENTRY_AUTH_TOKEN"] = "" // Sentry is measured by its own tests
	cfgs := []deploy.Config{s.config(b, commits[0], "v1"), s.config(b, commits[1], "v1")}
	for i := range cfgs {
		cfgs[i].PollInterval = time.Millisecond
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := deploy.New(cfgs[i%2], s.engine, io.Discard, false).Run(context.Background())
		if err != nil || res.Unchanged {
			b.Fatalf("deploy %d: %+v, %v", i, res, err)
		}
	}
}

// newRouter stands in for Heroku's router: it forwards to a container
// started, like a dyno, from the released image once the fake makes it
// current; before that it answers 503, as Heroku does for an app with no
// dyno.
func newRouter(t *testing.T, s *stage, image string) *httptest.Server {
	t.Helper()
	var (
		once    sync.Once
		target  *url.URL
		bootErr error
	)
	boot := func() {
		port := testenv.FreePort(t)
		name := testenv.Unique(t, "oc-e2e-dyno-")
		ctx := context.Background()
		id, err := s.engine.CreateContainer(ctx, docker.ContainerSpec{
			Name: name, Image: image, Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port,
		})
		if err != nil {
			bootErr = err
			return
		}
		t.Cleanup(func() { _ = s.engine.RemoveContainer(context.Background(), id, time.Second) })
		if bootErr = s.engine.StartContainer(ctx, id); bootErr == nil {
			target = &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current := ""
		for _, rel := range s.heroku.Releases(s.app) {
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

// buildSite compiles the site with commit and version stamped in and
// builds an image FROM scratch holding it, tagged ref; it returns the
// image ID.
func buildSite(t testing.TB, raw *client.Client, ref, commit, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "oc-lettings")
	r := &runner.Runner{Out: io.Discard}
	err := gobuild.Build(context.Background(), r, gobuild.Options{
		Output: bin, Version: version, Commit: commit, GOOS: "linux", GOARCH: "amd64", Static: true, Dir: imagetest.Root(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return buildImage(t, raw, ref, map[string][]byte{"oc-lettings": data},
		"FROM scratch\nCOPY oc-lettings /oc-lettings\nUSER 65534:65534\nENTRYPOINT [\"/oc-lettings\"]\n")
}

// buildTiny builds a small image FROM scratch that differs by commit.
func buildTiny(t testing.TB, raw *client.Client, ref, commit string) string {
	t.Helper()
	return buildImage(t, raw, ref, map[string][]byte{"commit": []byte(commit)}, "FROM scratch\nCOPY commit /commit\n")
}

// buildImage builds dockerfile with files as the context, tagged ref, with
// the engine's classic builder, and removes the tag when the test ends.
func buildImage(t testing.TB, raw *client.Client, ref string, files map[string][]byte, dockerfile string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files["Dockerfile"] = []byte(dockerfile)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testenv.RemoveWhenDone(t, raw, ref)
	res, err := raw.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if msg.Error != "" {
			t.Fatalf("building %s: %s", ref, msg.Error)
		}
	}
	img, err := raw.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	removeImageWhenDone(t, raw, img.ID)
	return img.ID
}

// removeImageWhenDone removes, when the test ends, the image id, which
// only this test made, with every name and digest reference it was given,
// and the intermediate images the classic builder left as its parents
// (they would stay behind once a pull replaces the image: pulled images
// have no parents).
func removeImageWhenDone(t testing.TB, raw *client.Client, id string) {
	t.Helper()
	chain := []string{id}
	if list, err := raw.ImageList(context.Background(), client.ImageListOptions{All: true}); err == nil {
		parents := map[string]string{}
		for _, img := range list.Items {
			parents[img.ID] = img.ParentID
		}
		for p := parents[id]; p != ""; p = parents[p] {
			chain = append(chain, p)
		}
	}
	t.Cleanup(func() {
		for _, ref := range chain {
			_, _ = raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})
}

func randomCommit(t testing.TB) string {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
