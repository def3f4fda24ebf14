package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Secrets of the test world. The fakes echo them in their errors, as a
// careless server might, to prove that the doctor masks them.
const (
	hubPass   = "hub-s3cret-pass"
	herokuKey = "heroku-s3cret-key"
	sentryTok = "sentry-s3cret-token"
)

// fullEnv sets every variable a deploy reads, but HEROKU_API_URL, which
// newWorld points at its fake API.
func fullEnv() map[string]string {
	return map[string]string{
		"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPass,
		"HEROKU_API_KEY": herokuKey, "HEROKU_APP_NAME": "oc-lettings-prod",
		"SENTRY_AUTH_TOKEN": sentryTok, "SENTRY_ORG": "oc", "SENTRY_PROJECT": "lettings",
	}
}

type world struct {
	doctor  *Doctor
	api     *herokutest.Server
	clients []heroku.Config           // the Heroku clients made
	accept  map[string]registry.Image // by Ref: the credentials each registry repository takes
	pushes  []registry.Image          // what CheckPush was asked
}

// newWorld returns a doctor for a repository with a clean checkout, Go
// 1.26.8, every tool installed, an engine, registries that accept
// fullEnv's credentials, and the fake Heroku API (which HEROKU_API_URL
// names unless env does) with a container-stack app, an app on a
// buildpack stack and a Fir app.
func newWorld(t *testing.T, env map[string]string) *world {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/x\n\ngo 1.26.0 // the oldest we test\n")
	w := &world{
		api: herokutest.NewServer(herokuKey),
		accept: map[string]registry.Image{
			"alice/oc-lettings":                        {Ref: "alice/oc-lettings", User: "alice", Password: hubPass},
			"registry.heroku.com/oc-lettings-prod/web": {Ref: "registry.heroku.com/oc-lettings-prod/web", User: "_", Password: herokuKey},
		},
	}
	t.Cleanup(w.api.Close)
	w.api.AddApp(herokutest.App{Name: "oc-lettings-prod"})
	w.api.AddApp(herokutest.App{Name: "old-app", Stack: "heroku-24"})
	w.api.AddApp(herokutest.App{Name: "fir-app", Generation: "fir"})
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["HEROKU_API_URL"]; !ok {
		env["HEROKU_API_URL"] = w.api.URL
	}
	w.doctor = &Doctor{
		Env:       settings.Map(env),
		Dir:       dir,
		GoVersion: func(context.Context) (string, error) { return "go1.26.8", nil },
		LookPath:  func(file string) (string, error) { return "/usr/bin/" + file, nil },
		Git: func(context.Context) (gitinfo.Info, error) {
			return gitinfo.Info{Commit: "0123456789abcdef0123456789abcdef01234567"}, nil
		},
		Docker: func(context.Context) (docker.Version, error) {
			return docker.Version{Engine: "20.10.24", APIVersion: "1.41", OS: "linux", Arch: "amd64"}, nil
		},
		Heroku: func(cfg heroku.Config) (*heroku.Client, error) {
			w.clients = append(w.clients, cfg)
			cfg.Retry = heroku.RetryPolicy{MinDelay: time.Millisecond} // the default attempts, quickly
			return heroku.New(cfg)
		},
		CheckPush: w.checkPush,
	}
	return w
}

// checkPush is a registry that takes w.accept's credentials, and echoes
// the password it was given when it refuses them.
func (w *world) checkPush(_ context.Context, img registry.Image) error {
	w.pushes = append(w.pushes, img)
	if w.accept[img.Ref] == img {
		return nil
	}
	refused := &registry.AuthError{Registry: registry.HostOf(img.Ref), User: img.User}
	return fmt.Errorf("%w (it was sent the password %s)", refused, img.Password)
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

// squeeze collapses the spaces that align the table, line by line, and
// joins a wrapped cell's lines, so that a test can look for a row without
// counting them. Each fix stays on a line of its own.
func squeeze(out string) string {
	var lines []string
	for line := range strings.Lines(out) {
		squeezed := strings.Join(strings.Fields(line), " ")
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(squeezed, "fix:") && len(lines) > 0 {
			lines[len(lines)-1] += " " + squeezed
			continue
		}
		lines = append(lines, squeezed)
	}
	return strings.Join(lines, "\n") + "\n"
}

// run runs the doctor and returns its report and everything it printed.
func (w *world) run(t *testing.T, stages Stage, online bool) (*Report, string) {
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
		out = append(out, r.Check+"="+string(r.Status))
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

func failed(rep *Report) []string {
	var out []string
	for _, r := range rep.Results {
		if r.Status == Fail {
			out = append(out, r.Check)
		}
	}
	return out
}

func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want Stage
		err  bool
	}{
		{"", Stages, false},
		{"all", Stages, false},
		{"push", Push, false},
		{"deploy, Test,test", Test | Deploy, false},
		{"release", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseStages(tt.in)
		if (err != nil) != tt.err || got != tt.want {
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
		"Is this machine ready for test, build, push, deploy?\nOnline:",
		"\nDocker engine test, build, push ok 20.10.24, API 1.41, linux/amd64\n",
		"\nDocker Hub credentials push, deploy ok accepted: alice may push to alice/oc-lettings\n",
		"\nHeroku API key deploy ok accepted, account " + herokutest.Email + "\n",
		"\nHeroku app deploy ok oc-lettings-prod, container stack, https://oc-lettings-prod.herokuapp.com/\n",
		"\nHeroku registry credentials deploy ok accepted: _ may push to registry.heroku.com/oc-lettings-prod/web\n",
		"\nHEROKU_API_KEY deploy ok set (a secret: its value is never shown)\n",
		"\nDOCKER_REGISTRY build, push, deploy ok not set: the default is docker.io\n",
		"\nCIRCLECI_SCHEMA test ok not set: the pinned schema, downloaded once and cached\n",
		"\nReady for test, build, push, deploy.\n",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(w.clients) != 1 || w.clients[0].APIURL != w.api.URL || w.clients[0].APIKey != herokuKey {
		t.Errorf("Heroku clients made = %+v, want one with the fake's URL and the key", w.clients)
	}
}

// TestEveryVariableReadHasARow checks that the rows come from the
// settings catalogue: one per variable a requested stage reads, the
// deploy stage reading the variables of the DEPLOY_PLATFORM only.
func TestEveryVariableReadHasARow(t *testing.T) {
	targets := map[Stage][]string{Test: {"test", "lint"}, Build: {"build"}, Push: {"push"}, Deploy: {"deploy"}}
	for _, platform := range []string{"", "heroku", "aws"} {
		env := map[string]string{"DEPLOY_PLATFORM": platform}
		for st, targets := range targets {
			rep, _ := newWorld(t, env).run(t, st, false)
			for _, v := range settings.All {
				reads := slices.ContainsFunc(targets, func(target string) bool {
					return slices.Contains(v.Reads, target) && (target != "deploy" || v.Platform == "" || v.Platform == cmp.Or(platform, "heroku"))
				})
				has := slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Check == v.Name })
				if reads != has {
					t.Errorf("DEPLOY_PLATFORM=%s, stage %s: %s has a row: %v; the stage reads it: %v", platform, st, v.Name, has, reads)
				}
			}
		}
	}
}

// TestEachStageNeedsItsOwnVariables gives each stage an environment and
// checks which rows fail and what the doctor answers.
func TestEachStageNeedsItsOwnVariables(t *testing.T) {
	dockerHub := map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPass}
	herokuVars := map[string]string{"HEROKU_API_KEY": herokuKey, "HEROKU_APP_NAME": "oc-lettings-prod"}
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
		{Deploy, herokuVars, []string{"DOCKERHUB_USERNAME"}, "not ready for deploy: 1 problem"}, // deploy copies the image from Docker Hub
		{Deploy, fullEnv(), nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with %d variables", tt.stage, len(tt.env)), func(t *testing.T) {
			rep, out := newWorld(t, tt.env).run(t, tt.stage, false)
			if got := failed(rep); !slices.Equal(got, tt.failed) {
				t.Errorf("failed rows = %q, want %q\n%s", got, tt.failed, out)
			}
			err := rep.Err()
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("Err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestAMissingVariableSaysHowToSetIt(t *testing.T) {
	rep, out := newWorld(t, map[string]string{"DOCKERHUB_USERNAME": "alice"}).run(t, Push|Deploy, false)
	r := result(t, rep, "DOCKERHUB_PASS")
	if r.Detail != "not set: Docker Hub password or, better, an access token; needed by push" ||
		r.Fix != "export DOCKERHUB_PASS=<value>; in CircleCI, put it in the dockerhub context" ||
		r.Stages != Push {
		t.Errorf("row = %+v", r)
	}
	if !strings.Contains(squeeze(out), "\nDOCKERHUB_PASS push FAIL not set: Docker Hub password or, better, an access token; needed by push\nfix: export DOCKERHUB_PASS=") {
		t.Errorf("the fix is not printed under its row:\n%s", out)
	}
	if got := result(t, rep, "HEROKU_APP_NAME").Detail; got != "not set: the Heroku app; needed by deploy" {
		t.Errorf("HEROKU_APP_NAME says %q", got)
	}
	if got := result(t, rep, "DOCKERHUB_USERNAME").Detail; got != "set" {
		t.Errorf("a set variable's row says %q, want just \"set\"", got)
	}
	if !strings.Contains(out, "Not ready for push, deploy: 3 problems, each with its fix in the table.") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestAnInvalidValueIsNotReady: each of these values makes the target
// that reads it stop at once, so the doctor must not say ready.
func TestAnInvalidValueIsNotReady(t *testing.T) {
	tests := []struct {
		name, value string
		stage       Stage
		detail      string // what the row says after "invalid: "
	}{
		{"HEROKU_APP_NAME", "Bad_App!", Deploy, `"Bad_App!" is not a Heroku app name`},
		{"HEROKU_API_URL", "http://api.heroku.com", Deploy, "http://api.heroku.com: a secret is sent there, so it must be https"},
		{"DOCKERHUB_USERNAME", "Alice Smith", Push, `"Alice Smith" cannot be part of an image name`},
		{"DOCKERHUB_USERNAME", "Alice Smith", Build, `"Alice Smith" cannot be part of an image name`},
		{"IMAGE_NAME", "OC/Lettings", Push, `"OC/Lettings" is not an image repository name`},
		{"DOCKER_REGISTRY", "https://ghcr.io", Deploy, `"https://ghcr.io" is not a registry host`},
		{"CIRCLECI_SCHEMA", "/nowhere/schema.json", Test, "names a file mage lint cannot read (open /nowhere/schema.json: no such file or directory)"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" for "+tt.stage.String(), func(t *testing.T) {
			env := fullEnv()
			env[tt.name] = tt.value
			rep, out := newWorld(t, env).run(t, tt.stage, false)
			r := result(t, rep, tt.name)
			if r.Status != Fail || !strings.HasPrefix(r.Detail, "invalid: "+tt.detail) || !strings.HasPrefix(r.Fix, "export "+tt.name+"=<") {
				t.Errorf("row = %+v", r)
			}
			if got := failed(rep); !slices.Equal(got, []string{tt.name}) {
				t.Errorf("failed rows = %q, want only %s", got, tt.name)
			}
			if err := rep.Err(); err == nil || strings.Contains(out, "Ready for") {
				t.Errorf("Err = %v with an invalid %s:\n%s", err, tt.name, out)
			}
		})
	}
}

func TestTheCircleCISchema(t *testing.T) {
	w := newWorld(t, map[string]string{"CIRCLECI_SCHEMA": "../schema.json"}) // relative to the repository
	writeFile(t, filepath.Join(w.doctor.Dir, "../schema.json"), "{}")
	rep, _ := w.run(t, Test, false)
	if r := result(t, rep, "CIRCLECI_SCHEMA"); r.Status != OK || r.Detail != "set" {
		t.Errorf("a readable schema: %+v", r)
	}
	if slices.ContainsFunc(rep.Results, func(r Result) bool { return strings.Contains(r.Check, "CircleCI") }) {
		t.Errorf("another row for the schema: %q", statuses(rep))
	}
}

func TestTheDockerEngine(t *testing.T) {
	down := fmt.Errorf("cannot reach the Docker engine at unix:///var/run/docker.sock (nothing answers there): %s", engineFix)
	tests := []struct {
		name   string
		stages Stage
		ci     bool
		want   Status
	}{
		{"the tests skip without it", Test, false, Warn},
		{"in CI the tests fail without it", Test, true, Fail},
		{"build cannot do without it", Build, false, Fail},
		{"push cannot do without it", Test | Push, false, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			if tt.ci {
				env["CI"] = "true"
			}
			w := newWorld(t, env)
			w.doctor.Docker = func(context.Context) (docker.Version, error) { return docker.Version{}, down }
			rep, out := w.run(t, tt.stages, true)
			r := result(t, rep, "Docker engine")
			if r.Status != tt.want || !strings.HasPrefix(r.Detail, "cannot reach the Docker engine at unix:///var/run/docker.sock (nothing answers there)") ||
				strings.Contains(r.Detail, "Docker Desktop") || r.Fix != engineFix {
				t.Errorf("row = %+v, want status %s with the engine's error and how to start one", r, tt.want)
			}
			if (tt.want == Fail) != (rep.Err() != nil) {
				t.Errorf("Err = %v with the engine row %s", rep.Err(), r.Status)
			}
			if tt.stages&Push != 0 {
				if got := result(t, rep, "Docker Hub credentials"); got.Status != OK {
					t.Errorf("the registry check needs no engine: %+v\n%s", got, out)
				}
			}
		})
	}
}

func TestDeployNeedsNoEngine(t *testing.T) {
	w := newWorld(t, fullEnv())
	w.doctor.Docker = func(context.Context) (docker.Version, error) {
		t.Error("deploy asked the Docker engine")
		return docker.Version{}, errors.New("no engine")
	}
	rep, out := w.run(t, Deploy, true)
	if rep.Err() != nil || slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Check == "Docker engine" }) {
		t.Errorf("deploy without an engine:\n%s", out)
	}
}

// TestTheTableFitsIn100Columns prints a report full of long details and
// fixes: every line of it fits a terminal of 100 columns.
func TestTheTableFitsIn100Columns(t *testing.T) {
	env := fullEnv()
	env["HEROKU_APP_NAME"], env["DOCKER_REGISTRY"] = "typo-app", "https://ghcr.io"
	delete(env, "DOCKERHUB_PASS")
	w := newWorld(t, env)
	w.accept = nil
	w.doctor.Git = func(context.Context) (gitinfo.Info, error) {
		return gitinfo.Info{Commit: "0123456789abcdef", Dirty: true}, nil
	}
	rep, out := w.run(t, Stages, true)
	if len(failed(rep)) < 4 {
		t.Fatalf("only %q failed: not much of a test", failed(rep))
	}
	for line := range strings.Lines(strings.TrimSuffix(out, "Error: "+rep.Err().Error()+"\n")) {
		if len(line) > 101 {
			t.Errorf("%d columns: %s", len(line)-1, line)
		}
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
		rep, _ := w.run(t, tt.stage, false)
		r := result(t, rep, "git checkout")
		if r.Status != tt.want || !strings.Contains(r.Detail, "commit 0123456789ab, with changes that can reach the image") ||
			(tt.want == Fail && !strings.Contains(r.Fix, "git stash -u")) {
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
		rep, _ := w.run(t, Test, false)
		r := result(t, rep, "Go")
		if r.Status != tt.want || !strings.HasPrefix(r.Detail, tt.detail) {
			t.Errorf("Go %q, %v: row = %+v, want %s %q", tt.version, tt.err, r, tt.want, tt.detail)
		}
		if tt.want == Fail && !strings.Contains(r.Fix, "install Go 1.26.0 or later") {
			t.Errorf("fix = %q", r.Fix)
		}
	}
	w := newWorld(t, nil)
	w.doctor.Dir = t.TempDir()
	rep, _ := w.run(t, Test, false)
	if r := result(t, rep, "Go"); r.Status != Fail || r.Fix != "run the doctor from the repository's root" {
		t.Errorf("no go.mod: %+v", r)
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
		rep, _ := w.run(t, Test, false)
		if r := result(t, rep, "docker-registry"); r.Status != tt.registry || !strings.Contains(r.Fix, "apt-get install docker-registry") {
			t.Errorf("CI=%v: docker-registry row = %+v, want %s", tt.ci, r, tt.registry)
		}
		if r := result(t, rep, "wrk"); r.Status != tt.registry || !strings.Contains(r.Fix, "apt-get install wrk") {
			t.Errorf("CI=%v: wrk row = %+v, want %s", tt.ci, r, tt.registry)
		}
		if r := result(t, rep, "shellcheck"); r.Status != Fail || !strings.Contains(r.Fix, "apt-get install shellcheck") {
			t.Errorf("shellcheck row = %+v, want a failure: mage lint needs it", r)
		}
		if r := result(t, rep, "chromium"); r.Status != tt.registry || !strings.Contains(r.Fix, "apt-get install chromium") {
			t.Errorf("CI=%v: chromium row = %+v, want %s", tt.ci, r, tt.registry)
		}
	}
	w := newWorld(t, nil)
	w.doctor.LookPath = func(file string) (string, error) {
		if file == "registry" { // the name upstream packages give it
			return "/usr/local/bin/registry", nil
		}
		return "", errors.New("not found")
	}
	rep, _ := w.run(t, Test, false)
	if r := result(t, rep, "docker-registry"); r.Status != OK || r.Detail != "/usr/local/bin/registry" {
		t.Errorf("a registry binary under its other name: %+v", r)
	}
}

func TestHalfConfiguredSentryWarns(t *testing.T) {
	env := fullEnv()
	delete(env, "SENTRY_PROJECT")
	rep, _ := newWorld(t, env).run(t, Deploy, false)
	r := result(t, rep, "Sentry releases")
	if r.Status != Warn || r.Detail != "SENTRY_PROJECT not set, but the other release settings are: deploy records no Sentry release" || rep.Err() != nil {
		t.Errorf("row = %+v, Err = %v", r, rep.Err())
	}
	for _, env := range []map[string]string{fullEnv(), nil} {
		rep, _ := newWorld(t, env).run(t, Deploy, false)
		if slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Check == "Sentry releases" }) {
			t.Errorf("a Sentry row with all three or none set: %q", statuses(rep))
		}
	}
}

func TestOfflineAsksNoOne(t *testing.T) {
	w := newWorld(t, fullEnv())
	rep, out := w.run(t, Stages, false)
	if len(w.pushes) > 0 || len(w.clients) > 0 || len(w.api.Requests()) > 0 {
		t.Errorf("offline, the doctor asked registries %d times, made %d Heroku clients and sent %q",
			len(w.pushes), len(w.clients), w.api.Requests())
	}
	for _, r := range rep.Results {
		if strings.Contains(r.Check, "credentials") || strings.HasPrefix(r.Check, "Heroku") {
			t.Errorf("offline row %s", r.Check)
		}
	}
	if !strings.Contains(out, "\nOffline: add -online to have the registries and Heroku check the credentials.\n") {
		t.Errorf("the output does not say how to check the credentials:\n%s", out)
	}
}

func TestOnlineChecks(t *testing.T) {
	serverError := "Heroku's API is failing: see https://status.heroku.com and try again later"
	tests := []struct {
		name  string
		env   func(map[string]string)
		fault herokutest.Fault // from the Heroku API, when it has a status
		stage Stage
		want  map[string]Status
		fix   string // the first failing row's fix
	}{
		{
			name: "all accepted", env: func(map[string]string) {}, stage: Deploy,
			want: map[string]Status{"Docker Hub credentials": OK, "Heroku API key": OK, "Heroku app": OK, "Heroku registry credentials": OK},
		},
		{
			name: "a wrong Docker Hub password", env: func(e map[string]string) { e["DOCKERHUB_PASS"] = "wrong-" + hubPass }, stage: Push,
			want: map[string]Status{"Docker Hub credentials": Fail},
			fix:  settings.DockerHubRefused,
		},
		{
			name: "another registry", env: func(e map[string]string) { e["DOCKER_REGISTRY"] = "ghcr.io" }, stage: Push,
			want: map[string]Status{"registry credentials": Fail},
			fix:  settings.DockerHubRefused,
		},
		{
			name: "an invalid image name", env: func(e map[string]string) { e["IMAGE_NAME"] = "OC" }, stage: Push,
			want: map[string]Status{"IMAGE_NAME": Fail, "Docker Hub credentials": Skip},
		},
		{
			name: "a wrong Heroku key", env: func(e map[string]string) { e["HEROKU_API_KEY"] = "wrong-" + herokuKey }, stage: Deploy,
			want: map[string]Status{"Docker Hub credentials": OK, "Heroku API key": Fail, "Heroku app": Skip, "Heroku registry credentials": Fail},
			fix:  "HEROKU_API_KEY was refused: " + settings.HerokuRefused,
		},
		{
			name: "the API fails on the account", env: func(map[string]string) {}, stage: Deploy,
			fault: herokutest.Fault{Method: "GET", Path: "/account", Status: 500, Times: 10},
			want:  map[string]Status{"Heroku API key": Fail, "Heroku app": Skip, "Heroku registry credentials": OK},
			fix:   serverError,
		},
		{
			name: "the API fails on the app", env: func(map[string]string) {}, stage: Deploy,
			fault: herokutest.Fault{Method: "GET", Path: "/apps/oc-lettings-prod", Status: 503, Times: 10},
			want:  map[string]Status{"Heroku API key": OK, "Heroku app": Fail},
			fix:   serverError,
		},
		{
			name: "no API there", env: func(e map[string]string) { e["HEROKU_API_URL"] = "http://127.0.0.1:1" }, stage: Deploy,
			want: map[string]Status{"Heroku API key": Fail, "Heroku app": Skip},
			fix:  "check HEROKU_API_URL and the network, then try again",
		},
		{
			name: "an app that does not exist", env: func(e map[string]string) { e["HEROKU_APP_NAME"] = "typo-app" }, stage: Deploy,
			want: map[string]Status{"Heroku API key": OK, "Heroku app": Fail},
			fix:  `app "typo-app" does not exist or this key cannot see it: check HEROKU_APP_NAME, or create the app with mage heroku:create`,
		},
		{
			name: "an app on a buildpack stack", env: func(e map[string]string) { e["HEROKU_APP_NAME"] = "old-app" }, stage: Deploy,
			want: map[string]Status{"Heroku app": Fail},
			fix:  "heroku stack:set container -a old-app, or mage heroku:create, which does it",
		},
		{
			name: "a Fir app", env: func(e map[string]string) { e["HEROKU_APP_NAME"] = "fir-app" }, stage: Deploy,
			want: map[string]Status{"Heroku app": Fail},
			fix:  "create a Cedar app with mage heroku:create and a new HEROKU_APP_NAME",
		},
		{
			name: "no credentials at all", env: func(e map[string]string) { clear(e) }, stage: Deploy,
			want: map[string]Status{"Docker Hub credentials": Skip, "Heroku API key": Skip, "Heroku app": Skip, "Heroku registry credentials": Skip},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fullEnv()
			tt.env(env)
			w := newWorld(t, env)
			if tt.fault.Status != 0 {
				w.api.Fail(tt.fault)
			}
			rep, out := w.run(t, tt.stage, true)
			for check, want := range tt.want {
				if r := result(t, rep, check); r.Status != want {
					t.Errorf("%s = %s (%s), want %s", check, r.Status, r.Detail, want)
				}
			}
			if tt.fix == "" {
				return
			}
			for _, r := range rep.Results {
				if r.Status == Fail {
					if r.Fix != tt.fix || strings.Contains(r.Detail, r.Fix) {
						t.Errorf("%s: fix = %q, want %q, and not in the detail %q", r.Check, r.Fix, tt.fix, r.Detail)
					}
					return
				}
			}
			t.Errorf("no row failed:\n%s", out)
		})
	}
}

// TestASkippedCheckSaysWhatItNeeds: an online check that cannot run names
// the setting it lacks, and the app check waits for an accepted key.
func TestASkippedCheckSaysWhatItNeeds(t *testing.T) {
	env := fullEnv()
	env["IMAGE_NAME"] = "OC"
	env["HEROKU_API_KEY"] = "wrong-" + herokuKey
	rep, _ := newWorld(t, env).run(t, Push|Deploy, true)
	for check, want := range map[string]string{"Docker Hub credentials": "needs a valid IMAGE_NAME", "Heroku app": "needs an accepted HEROKU_API_KEY"} {
		if r := result(t, rep, check); r.Status != Skip || r.Detail != want {
			t.Errorf("%s = %+v, want a skip: %s", check, r, want)
		}
	}
}

func TestEachOnlineCheckIsBounded(t *testing.T) {
	w := newWorld(t, fullEnv())
	w.doctor.Timeout = 50 * time.Millisecond
	w.doctor.CheckPush = func(ctx context.Context, _ registry.Image) error {
		<-ctx.Done()
		return ctx.Err()
	}
	start := time.Now()
	rep, out := w.run(t, Push|Deploy, true)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed)
	}
	for _, check := range []string{"Docker Hub credentials", "Heroku registry credentials"} {
		if r := result(t, rep, check); r.Status != Fail || !strings.Contains(r.Detail, "deadline exceeded") {
			t.Errorf("%s = %+v\n%s", check, r, out)
		}
	}
}

// TestSecretsAreNeverShown runs the doctor in every way that makes it
// report errors that echo the secrets, and scans all it prints.
func TestSecretsAreNeverShown(t *testing.T) {
	env := fullEnv()
	env["HEROKU_APP_NAME"] = "typo-app"
	w := newWorld(t, env)
	w.accept = nil // every registry refuses, and echoes the password it was given
	w.api.Fail(herokutest.Fault{Path: "/account", Status: 500, Message: "no account for key " + herokuKey, Times: 10})
	w.doctor.GoVersion = func(context.Context) (string, error) {
		return "", errors.New("go: cannot fetch the toolchain with token " + sentryTok)
	}
	_, out := w.run(t, Stages, true)
	for _, secret := range []string{hubPass, herokuKey, sentryTok} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows the secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"password ********", "key ********", "token ********", "set (a secret: its value is never shown)"} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}

// TestOnlineAWS: with DEPLOY_PLATFORM=aws, deploy's online check is the
// AWS preflight, whose fix the row shows, and Heroku is not asked.
func TestOnlineAWS(t *testing.T) {
	env := map[string]string{
		"DEPLOY_PLATFORM": "aws", "AWS_REGION": "eu-west-3", "ECS_SERVICE_NAME": "oc-web",
		"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPass,
	}
	for _, tt := range []struct {
		probe probe
		want  string
	}{
		{
			func(context.Context) (string, string, error) { return "arn:aws:iam::1:user/ci in eu-west-3", "", nil },
			"\nAWS preflight deploy ok arn:aws:iam::1:user/ci in eu-west-3\n",
		},
		{func(context.Context) (string, string, error) {
			return "", "grant ecr:DescribeRepositories to the deploy role", errors.New("ECR DescribeRepositories: AWS answered AccessDeniedException")
		}, "\nAWS preflight deploy FAIL ECR DescribeRepositories: AWS answered AccessDeniedException\nfix: grant ecr:DescribeRepositories to the deploy role\n"},
	} {
		w := newWorld(t, env)
		w.doctor.AWS = tt.probe
		rep, out := w.run(t, Deploy, true)
		if !strings.Contains(squeeze(out), tt.want) {
			t.Errorf("output lacks %q:\n%s", tt.want, out)
		}
		for _, r := range rep.Results {
			if strings.HasPrefix(r.Check, "Heroku") || strings.HasPrefix(r.Check, "HEROKU_") {
				t.Errorf("a Heroku row on AWS: %+v", r)
			}
		}
		if len(w.clients) != 0 {
			t.Errorf("Heroku was asked: %+v", w.clients)
		}
	}
}
