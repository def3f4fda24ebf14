package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Secrets of the test world. The fakes echo them in their errors, as a
// careless server might, to prove that the doctor masks them.
const (
	hubPass   = "hub-s3cret-pass"
	herokuKey = "heroku-s3cret-key"
	sentryTok = "sentry-s3cret-token"
)

// fakeEngine is a Docker engine whose registries accept one password each.
type fakeEngine struct {
	versionErr error
	accept     map[string]docker.Auth // by ServerAddress
	logins     []docker.Auth
	closed     bool
}

func (f *fakeEngine) Version(context.Context) (docker.Version, error) {
	if f.versionErr != nil {
		return docker.Version{}, f.versionErr
	}
	return docker.Version{Engine: "20.10.24", APIVersion: "1.41", OS: "linux", Arch: "amd64"}, nil
}

func (f *fakeEngine) Login(_ context.Context, a docker.Auth) error {
	f.logins = append(f.logins, a)
	if want, ok := f.accept[a.ServerAddress]; ok && want == a {
		return nil
	}
	return fmt.Errorf("%s refused user %s with password %s: unauthorized", a.ServerAddress, a.Username, a.Password)
}

func (f *fakeEngine) Close() error { f.closed = true; return nil }

// fakeHeroku is a Platform API that knows one key and some apps.
type fakeHeroku struct {
	key   string
	apps  map[string]heroku.App
	cfg   heroku.Config // the last client's
	calls []string
}

func (f *fakeHeroku) client(cfg heroku.Config) Heroku {
	f.cfg = cfg
	return &fakeHerokuClient{f: f, cfg: cfg}
}

type fakeHerokuClient struct {
	f   *fakeHeroku
	cfg heroku.Config
}

func (c *fakeHerokuClient) Account(context.Context) (heroku.Account, error) {
	c.f.calls = append(c.f.calls, "account")
	if c.cfg.APIKey != c.f.key {
		return heroku.Account{}, fmt.Errorf("unauthorized: invalid credentials provided (key %s)", c.cfg.APIKey)
	}
	return heroku.Account{Email: "ops@example.com"}, nil
}

func (c *fakeHerokuClient) App(_ context.Context, name string) (heroku.App, error) {
	c.f.calls = append(c.f.calls, "app "+name)
	app, ok := c.f.apps[name]
	if !ok {
		return heroku.App{}, fmt.Errorf("not_found: couldn't find that app (%s)", name)
	}
	return app, nil
}

// fullEnv sets every variable a deploy reads.
func fullEnv() map[string]string {
	return map[string]string{
		"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPass,
		"HEROKU_API_KEY": herokuKey, "HEROKU_APP_NAME": "oc-lettings-prod",
		"SENTRY_AUTH_TOKEN": sentryTok, "SENTRY_ORG": "oc", "SENTRY_PROJECT": "lettings",
	}
}

type world struct {
	doctor *Doctor
	engine *fakeEngine
	heroku *fakeHeroku
}

// newWorld returns a doctor for a repository with the schema next to it, a
// clean checkout, Go 1.26.8, every tool installed, an engine and registries
// that accept fullEnv's credentials, and a container-stack app on Heroku.
func newWorld(t *testing.T, env map[string]string) *world {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "repo")
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/x\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(root, "shared/circleci/schema.json"), "{}")
	w := &world{
		engine: &fakeEngine{accept: map[string]docker.Auth{
			"docker.io":           {Username: "alice", Password: hubPass, ServerAddress: "docker.io"},
			"registry.heroku.com": {Username: "_", Password: herokuKey, ServerAddress: "registry.heroku.com"},
		}},
		heroku: &fakeHeroku{key: herokuKey, apps: map[string]heroku.App{
			"oc-lettings-prod": {Name: "oc-lettings-prod", Stack: "container", WebURL: "https://oc-lettings-prod.herokuapp.com/"},
			"old-app":          {Name: "old-app", Stack: "heroku-24", BuildStack: "heroku-24"},
		}},
	}
	w.doctor = &Doctor{
		Env:       settings.Map(env),
		Dir:       dir,
		GoVersion: func(context.Context) (string, error) { return "go1.26.8", nil },
		LookPath:  func(file string) (string, error) { return "/usr/bin/" + file, nil },
		Git: func(context.Context) (gitinfo.Info, error) {
			return gitinfo.Info{Commit: "0123456789abcdef0123456789abcdef01234567"}, nil
		},
		Docker: func(context.Context) (Engine, error) { return w.engine, nil },
		Heroku: w.heroku.client,
	}
	return w
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// squeeze collapses the spaces that align the table, line by line, so that
// a test can look for a row without counting them.
func squeeze(out string) string {
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		lines[i] = strings.Join(strings.Fields(line), " ")
	}
	return strings.Join(lines, "\n")
}

// run runs the doctor and returns its report and everything it printed.
func (w *world) run(t *testing.T, stages []Stage, online bool) (*Report, string) {
	t.Helper()
	rep := w.doctor.Run(context.Background(), stages, online)
	var out strings.Builder
	rep.Print(&out)
	if err := rep.Err(); err != nil {
		out.WriteString("Error: " + err.Error() + "\n")
	}
	return rep, out.String()
}

// statuses returns "check=status" for each row, in order.
func statuses(rep *Report) []string {
	var out []string
	for _, r := range rep.Results {
		out = append(out, r.Check+"="+r.Status.String())
	}
	return out
}

func result(t testing.TB, rep *Report, check string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Check == check {
			return r
		}
	}
	t.Fatalf("no row %s in %q", check, statuses(rep))
	return Result{}
}

func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want []Stage
		err  bool
	}{
		{"", Stages, false},
		{"all", Stages, false},
		{"push", []Stage{Push}, false},
		{"deploy, Test,test", []Stage{Test, Deploy}, false},
		{"release", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseStages(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("ParseStages(%q) = %v, %v; want %v (error: %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
	if _, err := ParseStages("release"); err == nil || !strings.Contains(err.Error(), "choose test, build, push, deploy or all") {
		t.Errorf("an unknown stage: %v", err)
	}
}

func TestEverythingReady(t *testing.T) {
	w := newWorld(t, fullEnv())
	rep, out := w.run(t, Stages, true)
	if err := rep.Err(); err != nil {
		t.Fatalf("Err = %v\n%s", err, out)
	}
	for _, r := range rep.Results {
		if r.Status != OK {
			t.Errorf("%s: %s %s", r.Check, r.Status, r.Detail)
		}
	}
	for _, want := range []string{
		"Is this machine ready for test, build, push and deploy? (online",
		"\nDocker engine all ok 20.10.24, API 1.41, linux/amd64\n",
		"\nHeroku app deploy ok oc-lettings-prod, container stack, https://oc-lettings-prod.herokuapp.com/\n",
		"\nReady for test, build, push, deploy.\n",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !w.engine.closed {
		t.Error("the engine connection was not closed")
	}
	if got := w.heroku.cfg; got.APIURL != "https://api.heroku.com" || got.APIKey != herokuKey {
		t.Errorf("Heroku client config = %+v, want the default API URL and the key", got)
	}
}

// TestEachStageNeedsItsOwnVariables gives each stage an environment and
// checks which rows fail and what the doctor answers.
func TestEachStageNeedsItsOwnVariables(t *testing.T) {
	dockerHub := map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPass}
	herokuVars := map[string]string{"HEROKU_API_KEY": herokuKey, "HEROKU_APP_NAME": "oc-lettings-prod"}
	withCI := func(env map[string]string) map[string]string {
		out := map[string]string{"CI": "true"}
		for k, v := range env {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		stage  Stage
		env    map[string]string
		failed []string // rows that fail
		err    string   // "" when ready
	}{
		{Test, nil, nil, ""},
		{Build, nil, nil, ""},
		{Push, nil, []string{"DOCKERHUB_USERNAME", "DOCKERHUB_PASS"}, "not ready for push: 2 problems"},
		{Push, map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": "  "}, []string{"DOCKERHUB_PASS"}, "not ready for push: 1 problem,"},
		{Push, dockerHub, nil, ""},
		{Deploy, dockerHub, []string{"HEROKU_API_KEY", "HEROKU_APP_NAME"}, "not ready for deploy: 2 problems"},
		{Deploy, herokuVars, nil, ""}, // deploys the image on this machine
		{Deploy, withCI(herokuVars), []string{"DOCKERHUB_USERNAME"}, "not ready for deploy: 1 problem"},
		{Deploy, fullEnv(), nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with %d variables", tt.stage, len(tt.env)), func(t *testing.T) {
			rep, out := newWorld(t, tt.env).run(t, []Stage{tt.stage}, false)
			var failed []string
			for _, r := range rep.Results {
				if r.Status == Fail {
					failed = append(failed, r.Check)
				}
			}
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("failed rows = %q, want %q\n%s", failed, tt.failed, out)
			}
			err := rep.Err()
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("Err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestAMissingVariableSaysHowToSetIt(t *testing.T) {
	rep, out := newWorld(t, map[string]string{"DOCKERHUB_USERNAME": "alice"}).run(t, []Stage{Push}, false)
	r := result(t, rep, "DOCKERHUB_PASS")
	if r.Detail != "not set: push needs it" ||
		r.Fix != "export DOCKERHUB_PASS=<Docker Hub password or access token, for push and pull>; in CircleCI, put it in the dockerhub context" {
		t.Errorf("row = %+v", r)
	}
	if !strings.Contains(squeeze(out), "\nDOCKERHUB_PASS FAIL not set: push needs it\nfix: export DOCKERHUB_PASS=") {
		t.Errorf("the fix is not printed under its row:\n%s", out)
	}
	if got := result(t, rep, "DOCKERHUB_USERNAME").Detail; got != "set" {
		t.Errorf("a set variable's row says %q, want just \"set\"", got)
	}
}

func TestTheDockerEngine(t *testing.T) {
	down := errors.New("cannot reach the Docker engine at unix:///var/run/docker.sock (connection refused)")
	tests := []struct {
		name   string
		stages []Stage
		ci     bool
		want   Status
	}{
		{"the tests skip without it", []Stage{Test}, false, Warn},
		{"in CI the tests fail without it", []Stage{Test}, true, Fail},
		{"build cannot do without it", []Stage{Build}, false, Fail},
		{"deploy cannot do without it", []Stage{Deploy}, false, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			if tt.ci {
				env["CI"] = "true"
			}
			w := newWorld(t, env)
			w.doctor.Docker = func(context.Context) (Engine, error) { return nil, down }
			rep, out := w.run(t, tt.stages, true)
			r := result(t, rep, "Docker engine")
			if r.Status != tt.want || !strings.HasPrefix(r.Detail, down.Error()) || !strings.Contains(r.Fix, "start Docker Desktop or dockerd") {
				t.Errorf("row = %+v, want status %s with the engine's error and how to start one", r, tt.want)
			}
			if (tt.want == Fail) != (rep.Err() != nil) {
				t.Errorf("Err = %v with the engine row %s", rep.Err(), r.Status)
			}
			if slices.Contains(tt.stages, Deploy) {
				if got := result(t, rep, "Heroku registry login"); got.Status != Skip || got.Detail != "needs the Docker engine" {
					t.Errorf("Heroku registry login without an engine = %+v\n%s", got, out)
				}
			}
		})
	}
}

func TestTheEngineAnswersButNotItsVersion(t *testing.T) {
	w := newWorld(t, nil)
	w.engine.versionErr = errors.New("asking the Docker engine for its version: EOF")
	rep, _ := w.run(t, []Stage{Build}, false)
	if r := result(t, rep, "Docker engine"); r.Status != Fail || !w.engine.closed {
		t.Errorf("row = %+v, engine closed = %v", r, w.engine.closed)
	}
}

func TestUncommittedChanges(t *testing.T) {
	for _, tt := range []struct {
		stage Stage
		want  Status
	}{{Build, Warn}, {Push, Fail}, {Deploy, Fail}} {
		w := newWorld(t, fullEnv())
		w.doctor.Git = func(context.Context) (gitinfo.Info, error) {
			return gitinfo.Info{Commit: "0123456789abcdef", Dirty: true}, nil
		}
		rep, _ := w.run(t, []Stage{tt.stage}, false)
		r := result(t, rep, "git checkout")
		if r.Status != tt.want || !strings.Contains(r.Detail, "commit 0123456789ab with uncommitted changes") {
			t.Errorf("%s with a dirty tree: row = %+v, want %s", tt.stage, r, tt.want)
		}
	}
}

func TestTheGoToolchain(t *testing.T) {
	tests := []struct {
		version string
		err     error
		want    Status
		detail  string
	}{
		{"go1.26.8", nil, OK, "go1.26.8 (go.mod asks for go 1.26.0)"},
		{"go1.27rc1", nil, OK, "go1.27rc1 (go.mod asks for go 1.26.0)"},
		{"go1.25.9", nil, Fail, "go1.25.9, but go.mod asks for go 1.26.0"},
		{"", errors.New("go: go.mod requires go >= 1.26.0 (running go 1.24.1; GOTOOLCHAIN=local)"), Fail, "go: go.mod requires go >= 1.26.0"},
	}
	for _, tt := range tests {
		w := newWorld(t, nil)
		w.doctor.GoVersion = func(context.Context) (string, error) { return tt.version, tt.err }
		rep, _ := w.run(t, []Stage{Test}, false)
		r := result(t, rep, "Go")
		if r.Status != tt.want || !strings.HasPrefix(r.Detail, tt.detail) {
			t.Errorf("Go %q, %v: row = %+v, want %s %q", tt.version, tt.err, r, tt.want, tt.detail)
		}
		if tt.want == Fail && !strings.Contains(r.Fix, "install Go 1.26.0 or later") {
			t.Errorf("fix = %q", r.Fix)
		}
	}
}

func TestTheToolsTheTestsNeed(t *testing.T) {
	for _, tt := range []struct {
		ci       bool
		registry Status
	}{{false, Warn}, {true, Fail}} {
		env := map[string]string{}
		if tt.ci {
			env["CI"] = "1"
		}
		w := newWorld(t, env)
		w.doctor.LookPath = func(file string) (string, error) { return "", errors.New(file + ": not found") }
		rep, _ := w.run(t, []Stage{Test}, false)
		if r := result(t, rep, "docker-registry"); r.Status != tt.registry || !strings.Contains(r.Fix, "apt-get install docker-registry") {
			t.Errorf("CI=%v: docker-registry row = %+v, want %s", tt.ci, r, tt.registry)
		}
		if r := result(t, rep, "wrk"); r.Status != tt.registry || !strings.Contains(r.Fix, "apt-get install wrk") {
			t.Errorf("CI=%v: wrk row = %+v, want %s", tt.ci, r, tt.registry)
		}
		if r := result(t, rep, "shellcheck"); r.Status != Fail || !strings.Contains(r.Fix, "apt-get install shellcheck") {
			t.Errorf("shellcheck row = %+v, want a failure: mage lint needs it", r)
		}
	}
	w := newWorld(t, nil)
	w.doctor.LookPath = func(file string) (string, error) {
		if file == "registry" { // the name upstream packages give it
			return "/usr/local/bin/registry", nil
		}
		return "", errors.New("not found")
	}
	rep, _ := w.run(t, []Stage{Test}, false)
	if r := result(t, rep, "docker-registry"); r.Status != OK || r.Detail != "/usr/local/bin/registry" {
		t.Errorf("a registry binary under its other name: %+v", r)
	}
}

func TestTheCircleCISchema(t *testing.T) {
	w := newWorld(t, nil)
	rep, _ := w.run(t, []Stage{Test}, false)
	if r := result(t, rep, "CircleCI schema"); r.Status != OK {
		t.Errorf("schema at its default place: %+v", r)
	}

	w.doctor.Dir = t.TempDir() // no ../shared next to it
	writeFile(t, filepath.Join(w.doctor.Dir, "go.mod"), "module x\n\ngo 1.26.0\n")
	rep, _ = w.run(t, []Stage{Test}, false)
	if r := result(t, rep, "CircleCI schema"); r.Status != Warn || !strings.Contains(r.Fix, "set CIRCLECI_SCHEMA") || rep.Err() != nil {
		t.Errorf("schema absent from its default place: %+v, Err %v; want a warning only", r, rep.Err())
	}

	w.doctor.Env = settings.Map(map[string]string{"CIRCLECI_SCHEMA": "/nowhere/schema.json"})
	rep, _ = w.run(t, []Stage{Test}, false)
	if r := result(t, rep, "CircleCI schema"); r.Status != Fail || strings.Contains(r.Detail, "/nowhere") {
		t.Errorf("CIRCLECI_SCHEMA naming no file: %+v; want a failure that does not print the value", r)
	}
}

func TestHalfConfiguredSentryWarns(t *testing.T) {
	env := fullEnv()
	delete(env, "SENTRY_PROJECT")
	rep, _ := newWorld(t, env).run(t, []Stage{Deploy}, false)
	r := result(t, rep, "Sentry releases")
	if r.Status != Warn || r.Detail != "SENTRY_AUTH_TOKEN, SENTRY_ORG set but not SENTRY_PROJECT: deploy records no Sentry release" || rep.Err() != nil {
		t.Errorf("row = %+v, Err = %v", r, rep.Err())
	}
}

func TestOfflineAsksNoOne(t *testing.T) {
	w := newWorld(t, fullEnv())
	rep, out := w.run(t, Stages, false)
	if len(w.engine.logins) > 0 || len(w.heroku.calls) > 0 {
		t.Errorf("offline, the doctor logged in %d times and called Heroku %q", len(w.engine.logins), w.heroku.calls)
	}
	for _, r := range rep.Results {
		if strings.Contains(r.Check, "login") || strings.HasPrefix(r.Check, "Heroku") {
			t.Errorf("offline row %s", r.Check)
		}
	}
	if !strings.Contains(out, "(offline: add -online to have the registries and Heroku check the credentials)") {
		t.Errorf("the output does not say how to check the credentials:\n%s", out)
	}
}

func TestOnlineChecks(t *testing.T) {
	tests := []struct {
		name  string
		env   func(map[string]string)
		stage Stage
		want  map[string]Status
		fix   string // in the first failing row's fix
	}{
		{
			name: "all accepted", env: func(map[string]string) {}, stage: Deploy,
			want: map[string]Status{"Docker Hub login": OK, "Heroku API key": OK, "Heroku app": OK, "Heroku registry login": OK},
		},
		{
			name: "a wrong Docker Hub password", env: func(e map[string]string) { e["DOCKERHUB_PASS"] = "wrong-" + hubPass }, stage: Push,
			want: map[string]Status{"Docker Hub login": Fail},
			fix:  "check DOCKERHUB_USERNAME and DOCKERHUB_PASS",
		},
		{
			name: "another registry", env: func(e map[string]string) { e["DOCKER_REGISTRY"] = "ghcr.io" }, stage: Push,
			want: map[string]Status{"registry login": Fail},
		},
		{
			name: "a wrong Heroku key", env: func(e map[string]string) { e["HEROKU_API_KEY"] = "wrong-" + herokuKey }, stage: Deploy,
			want: map[string]Status{"Docker Hub login": OK, "Heroku API key": Fail, "Heroku app": Skip, "Heroku registry login": Fail},
			fix:  "heroku authorizations:create",
		},
		{
			name: "an app that does not exist", env: func(e map[string]string) { e["HEROKU_APP_NAME"] = "typo-app" }, stage: Deploy,
			want: map[string]Status{"Heroku API key": OK, "Heroku app": Fail},
			fix:  "go tool mage heroku:create, or correct HEROKU_APP_NAME",
		},
		{
			name: "an app on a buildpack stack", env: func(e map[string]string) { e["HEROKU_APP_NAME"] = "old-app" }, stage: Deploy,
			want: map[string]Status{"Heroku app": Fail},
			fix:  "heroku stack:set container -a old-app, or go tool mage heroku:create",
		},
		{
			name: "no credentials at all", env: func(e map[string]string) { clear(e) }, stage: Deploy,
			want: map[string]Status{"Docker Hub login": Skip, "Heroku API key": Skip, "Heroku app": Skip, "Heroku registry login": Skip},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			tt.env(env)
			rep, out := newWorld(t, env).run(t, []Stage{tt.stage}, true)
			fixed := false
			for check, want := range tt.want {
				r := result(t, rep, check)
				if r.Status != want {
					t.Errorf("%s = %s (%s), want %s", check, r.Status, r.Detail, want)
				}
				if tt.fix != "" && r.Status == Fail && strings.Contains(r.Fix, tt.fix) {
					fixed = true
				}
			}
			if tt.fix != "" && !fixed {
				t.Errorf("no failing row's fix says %q:\n%s", tt.fix, out)
			}
		})
	}
}

// TestSecretsAreNeverShown runs the doctor in every way that makes it
// report errors that echo the secrets, and scans all it prints.
func TestSecretsAreNeverShown(t *testing.T) {
	env := fullEnv()
	env["HEROKU_APP_NAME"] = "typo-app"
	w := newWorld(t, env)
	// Every login fails and echoes the password it was given.
	w.engine.accept = nil
	w.doctor.GoVersion = func(context.Context) (string, error) {
		return "", errors.New("go: cannot fetch the toolchain with token " + sentryTok)
	}
	_, out := w.run(t, Stages, true)
	for _, secret := range []string{hubPass, herokuKey, sentryTok} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows the secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"password ********", "set (a secret: its value is never shown)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
