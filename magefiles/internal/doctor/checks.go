package doctor

import (
	"context"
	"errors"
	"fmt"
	"go/version"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/circleci"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/image"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// inCI reports whether the environment is CI, where the tests fail rather
// than skip without the Docker engine and the registry.
func (d *Doctor) inCI() bool {
	v, _ := d.Env("CI")
	return v != ""
}

func (d *Doctor) goToolchain(ctx context.Context) Result {
	res := Result{Check: "Go", Stages: Stages}
	want, err := circleci.GoModVersion(filepath.Join(d.Dir, "go.mod"))
	if err != nil {
		return res.fail(firstLine(err), "run the doctor from the repository's root")
	}
	have, err := d.GoVersion(ctx)
	if err != nil {
		return res.fail(firstLine(err), fmt.Sprintf("install Go %s or later (go.dev/dl), or unset GOTOOLCHAIN=local so that Go fetches it", want))
	}
	if version.Compare(have, "go"+want) < 0 {
		return res.fail(fmt.Sprintf("%s, but go.mod asks for go %s", have, want),
			fmt.Sprintf("install Go %s or later (go.dev/dl), or unset GOTOOLCHAIN=local so that Go fetches it", want))
	}
	return res.ok(fmt.Sprintf("%s (go.mod asks for go %s)", have, want))
}

// dockerEngine connects to the engine and returns it (nil when it does not
// answer) with the result.
func (d *Doctor) dockerEngine(ctx context.Context, stages []Stage) (Engine, Result) {
	res := Result{Check: "Docker engine", Stages: Stages}
	// Without an engine the tests skip their integration part, unless in CI;
	// building, pushing and deploying cannot do without it.
	required := d.inCI() || len(intersect(stages, []Stage{Build, Push, Deploy})) > 0
	missing := func(detail string) (Engine, Result) {
		fix := "start Docker Desktop or dockerd (on Debian or Ubuntu, sudo .ci/setup installs and starts one), or point DOCKER_HOST at a running engine"
		if !required {
			return nil, res.warn(detail+": the integration tests will be skipped", fix)
		}
		if d.inCI() {
			return nil, res.fail(detail, fix)
		}
		return nil, res.fail(detail, fix).blocking(Build, Push, Deploy)
	}
	e, err := d.Docker(ctx)
	if err != nil {
		return missing(firstLine(err))
	}
	v, err := e.Version(ctx)
	if err != nil {
		_ = e.Close()
		return missing(firstLine(err))
	}
	return e, res.ok(fmt.Sprintf("%s, API %s, %s/%s", v.Engine, v.APIVersion, v.OS, v.Arch))
}

func (d *Doctor) gitCheckout(ctx context.Context, stages []Stage) Result {
	res := Result{Check: "git checkout", Stages: []Stage{Build, Push, Deploy}}
	info, err := d.Git(ctx)
	if err != nil {
		return res.fail(firstLine(err), "run from a git clone of the project with at least one commit (git must be installed)")
	}
	if !info.Dirty {
		return res.ok(fmt.Sprintf("commit %s, no uncommitted changes", info.Short()))
	}
	detail := fmt.Sprintf("commit %s with uncommitted changes", info.Short())
	if len(intersect(stages, []Stage{Push, Deploy})) > 0 {
		return res.fail(detail+": push and deploy publish committed code only", "commit or stash the changes").blocking(Push, Deploy)
	}
	return res.warn(detail+": build tags the image <commit>-dirty and leaves latest alone", "commit the changes to build the image of a commit")
}

// A tool is a program the tests or linters run.
type tool struct {
	name, alias string // alias: another name it may have
	why, fix    string
	// skippedWithout: the tests that need it skip without it, except in CI.
	skippedWithout bool
}

// tool checks that t is installed.
func (d *Doctor) tool(stage Stage, t tool) Result {
	res := Result{Check: t.name, Stages: []Stage{stage}}
	for _, n := range []string{t.name, t.alias} {
		if path, err := d.LookPath(n); n != "" && err == nil {
			return res.ok(path)
		}
	}
	detail := "not installed: " + t.why
	if t.skippedWithout && !d.inCI() {
		return res.warn(detail+"; without it they are skipped", t.fix)
	}
	return res.fail(detail, t.fix)
}

func (d *Doctor) circleCISchema() Result {
	res := Result{Check: "CircleCI schema", Stages: []Stage{Test}}
	path, explicit := circleci.SchemaPath(d.Dir, d.Env)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return res.ok("mage lint checks .circleci/config.yml against it")
	case errors.Is(err, fs.ErrNotExist) && explicit:
		return res.fail(settings.CircleCISchema.Name+" names a file that does not exist: mage lint will fail",
			"correct "+settings.CircleCISchema.Name+", or unset it to use "+settings.CircleCISchema.Default)
	case errors.Is(err, fs.ErrNotExist):
		return res.warn("not at "+settings.CircleCISchema.Default+": mage lint checks the config's structure only",
			"set "+settings.CircleCISchema.Name+" to the schema's path (circleci-yaml-language-server's schema.json)")
	default:
		return res.fail(firstLine(err), "make the schema readable, or set "+settings.CircleCISchema.Name+" to another copy")
	}
}

// A varCheck says which stages read a variable and which cannot do
// without it.
type varCheck struct {
	v        settings.Var
	required []Stage // fail when it is unset
	inCI     []Stage // fail when it is unset in CI, where every job starts afresh
	optional []Stage // read, but fine unset
	unset    string  // what happens when it is unset and optional; default: its default is used
	context  string  // the CircleCI context that holds it
}

// variables lists what each stage reads, in the order the table shows them.
var variables = []varCheck{
	{v: settings.TestResultsDir, optional: []Stage{Test}, unset: "mage test writes JUnit XML and coverage to a temporary directory"},
	{
		v: settings.DockerHubUser, required: []Stage{Push}, inCI: []Stage{Deploy}, optional: []Stage{Build},
		unset:   "the image gets a local name, so deploy finds it only on the machine that built it",
		context: "dockerhub",
	},
	{
		v: settings.DockerHubPass, required: []Stage{Push}, optional: []Stage{Deploy},
		unset: "deploy pulls the image anonymously, as from a public repository", context: "dockerhub",
	},
	{v: settings.DockerRegistry, optional: []Stage{Build, Push, Deploy}},
	{v: settings.ImageName, optional: []Stage{Build, Push, Deploy}},
	{v: settings.HerokuAPIKey, required: []Stage{Deploy}, context: "heroku"},
	{v: settings.HerokuAppName, required: []Stage{Deploy}, context: "heroku"},
	{v: settings.HerokuAPIURL, optional: []Stage{Deploy}},
	{v: settings.HerokuRegistry, optional: []Stage{Deploy}},
	{v: settings.HealthURL, optional: []Stage{Deploy}, unset: "deploy checks the app's web URL + /healthz"},
	{v: settings.SentryAuthToken, optional: []Stage{Deploy}, unset: "deploy records no Sentry release", context: "sentry"},
	{v: settings.SentryOrg, optional: []Stage{Deploy}, unset: "deploy records no Sentry release", context: "sentry"},
	{v: settings.SentryProject, optional: []Stage{Deploy}, unset: "deploy records no Sentry release", context: "sentry"},
	{v: settings.SentryEnvironment, optional: []Stage{Deploy}},
	{v: settings.SentryURL, optional: []Stage{Deploy}},
}

// variable reports whether a variable is set, never its value.
func (d *Doctor) variable(vc varCheck, stages []Stage) Result {
	res := Result{Check: vc.v.Name, Stages: intersect(slices.Concat(vc.required, vc.inCI, vc.optional), Stages)}
	required := vc.required
	if d.inCI() {
		required = slices.Concat(required, vc.inCI)
	}
	if vc.v.IsSet(d.Env) {
		if vc.v.Secret {
			return res.ok("set (a secret: its value is never shown)")
		}
		return res.ok("set")
	}
	if needed := intersect(required, stages); len(needed) > 0 {
		fix := fmt.Sprintf("export %s=<%s>", vc.v.Name, vc.v.Usage)
		if vc.context != "" {
			fix += fmt.Sprintf("; in CircleCI, put it in the %s context", vc.context)
		}
		verb := "needs"
		if len(needed) > 1 {
			verb = "need"
		}
		return res.fail(fmt.Sprintf("not set: %s %s it", and(needed), verb), fix).blocking(required...)
	}
	switch {
	case vc.unset != "":
		return res.ok("not set: " + vc.unset)
	case vc.v.Default != "":
		return res.ok("not set: the default is " + vc.v.Default)
	}
	return res.ok("not set")
}

// sentryPartial warns when release tracking is half configured: deploy
// tracks releases only when all three variables are set.
func (d *Doctor) sentryPartial() Result {
	set, unset := sentryrelease.FromEnv(d.Env).Settings()
	if len(set) == 0 || len(unset) == 0 {
		return Result{}
	}
	return Result{Check: "Sentry releases", Stages: []Stage{Deploy}}.warn(
		strings.Join(set, ", ")+" set but not "+strings.Join(unset, ", ")+": deploy records no Sentry release",
		"set all three to record releases, or none")
}

// onlineChecks asks the registries and Heroku whether they accept the
// credentials, and Heroku about the app.
func (d *Doctor) onlineChecks(ctx context.Context, engine Engine, stages []Stage) []Result {
	var out []Result
	if len(intersect(stages, []Stage{Push, Deploy})) > 0 {
		out = append(out, d.registryLogin(ctx, engine))
	}
	if slices.Contains(stages, Deploy) {
		client := d.Heroku(heroku.Config{
			APIURL: settings.HerokuAPIURL.Get(d.Env),
			APIKey: settings.HerokuAPIKey.Get(d.Env),
		})
		key, keyOK := d.herokuKey(ctx, client)
		out = append(out, key, d.herokuApp(ctx, client, keyOK), d.herokuRegistryLogin(ctx, engine))
	}
	return out
}

func (d *Doctor) registryLogin(ctx context.Context, engine Engine) Result {
	registry := settings.DockerRegistry.Get(d.Env)
	res := Result{Check: "Docker Hub login", Stages: []Stage{Push, Deploy}}
	if registry != settings.DockerRegistry.Default {
		res.Check = "registry login"
	}
	if skip := d.missing(settings.DockerHubUser, settings.DockerHubPass); skip != "" {
		return res.skip(skip)
	}
	if engine == nil {
		return res.skip(noEngine)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	if err := engine.Login(ctx, image.AuthFromEnv(d.Env)); err != nil {
		return res.fail(firstLine(err), "check DOCKERHUB_USERNAME and DOCKERHUB_PASS (an access token works as the password) and DOCKER_REGISTRY")
	}
	return res.ok("accepted by " + registry)
}

func (d *Doctor) herokuKey(ctx context.Context, client Heroku) (Result, bool) {
	res := Result{Check: "Heroku API key", Stages: []Stage{Deploy}}
	if skip := d.missing(settings.HerokuAPIKey); skip != "" {
		return res.skip(skip), false
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	acct, err := client.Account(ctx)
	if err != nil {
		return res.fail(firstLine(err), "create a key with heroku authorizations:create and set HEROKU_API_KEY; check HEROKU_API_URL"), false
	}
	return res.ok("accepted, account " + acct.Email), true
}

func (d *Doctor) herokuApp(ctx context.Context, client Heroku, keyOK bool) Result {
	res := Result{Check: "Heroku app", Stages: []Stage{Deploy}}
	if skip := d.missing(settings.HerokuAppName); skip != "" {
		return res.skip(skip)
	}
	if !keyOK {
		return res.skip("needs an accepted HEROKU_API_KEY")
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	name := settings.HerokuAppName.Get(d.Env)
	app, err := client.App(ctx, name)
	if err != nil {
		return res.fail(firstLine(err), "create it with go tool mage heroku:create, or correct HEROKU_APP_NAME")
	}
	if !app.IsContainer() {
		return res.fail(fmt.Sprintf("%s runs on the %s stack: it cannot run a Docker image", app.Name, app.Stack),
			fmt.Sprintf("heroku stack:set container -a %s, or go tool mage heroku:create", app.Name))
	}
	return res.ok(fmt.Sprintf("%s, container stack, %s", app.Name, app.WebURL))
}

func (d *Doctor) herokuRegistryLogin(ctx context.Context, engine Engine) Result {
	registry := settings.HerokuRegistry.Get(d.Env)
	res := Result{Check: "Heroku registry login", Stages: []Stage{Deploy}}
	if skip := d.missing(settings.HerokuAPIKey); skip != "" {
		return res.skip(skip)
	}
	if engine == nil {
		return res.skip(noEngine)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	if err := engine.Login(ctx, docker.HerokuAuth(registry, settings.HerokuAPIKey.Get(d.Env))); err != nil {
		return res.fail(firstLine(err), "check HEROKU_API_KEY and HEROKU_REGISTRY")
	}
	return res.ok("accepted by " + registry)
}

// missing returns why a check cannot run without vars ("needs X and Y"), or
// "" when they are all set.
func (d *Doctor) missing(vars ...settings.Var) string {
	var unset *settings.MissingError
	if !errors.As(settings.Require(d.Env, vars...), &unset) {
		return ""
	}
	names := make([]string, len(unset.Vars))
	for i, v := range unset.Vars {
		names[i] = v.Name
	}
	return "needs " + strings.Join(names, " and ")
}

// noEngine is why a login cannot be checked without the Docker engine.
const noEngine = "needs the Docker engine"
