// Package doctor checks that a machine and its environment are ready for a
// stage of the pipeline, and says how to fix what is not: the Go toolchain,
// the Docker engine, the git checkout, the tools, every environment variable
// the stage reads (as the settings catalogue says; never a secret's value)
// and, online, whether the registries and Heroku accept the credentials.
// It is what a newcomer runs first, and what a failing CircleCI job runs to
// explain itself: the one package that reads a settings.Env itself.
package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"go/version"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// A Stage is a part of the pipeline; stages combine into sets: Push|Deploy.
type Stage uint8

// The stages, in pipeline order, and Stages, all of them.
const (
	Test   Stage = 1 << iota // go tool mage lint test
	Build                    // go tool mage build
	Push                     // go tool mage push
	Deploy                   // go tool mage deploy
	Stages = Test | Build | Push | Deploy
)

var stageNames = []string{"test", "build", "push", "deploy"}

// String names the stages in s: "test, push, deploy".
func (s Stage) String() string {
	var names []string
	for i, name := range stageNames {
		if s&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// column names the stages in a table's cell: "all" for all of them.
func (s Stage) column() string {
	if s == Stages {
		return "all"
	}
	return s.String()
}

// wrap breaks s between words into lines of at most n bytes (a longer word
// has one of its own), each below the last in the table's DETAIL column.
func wrap(s string, n int) string {
	lines := []string{""}
	for _, word := range strings.Fields(s) {
		if last := lines[len(lines)-1]; last == "" || len(last)+1+len(word) <= n {
			lines[len(lines)-1] = strings.TrimPrefix(last+" "+word, " ")
		} else {
			lines = append(lines, word)
		}
	}
	return strings.Join(lines, "\n\t\t\t")
}

// ParseStages reads a comma-separated list of stages; "" and "all" mean all.
func ParseStages(list string) (Stage, error) {
	if list = strings.TrimSpace(strings.ToLower(list)); list == "" || list == "all" {
		return Stages, nil
	}
	var s Stage
	for name := range strings.SplitSeq(list, ",") {
		i := slices.Index(stageNames, strings.TrimSpace(name))
		if i < 0 {
			return 0, fmt.Errorf("unknown stage %q: choose test, build, push, deploy or all (e.g. -stage=push)", name)
		}
		s |= 1 << i
	}
	return s, nil
}

// stageOf gives the stage that runs each target a stage runs.
var stageOf = map[string]Stage{
	settings.Test: Test, settings.Lint: Test, settings.Build: Build, settings.Push: Push, settings.Deploy: Deploy,
}

// stagesOf returns the stages that run targets of the settings catalogue.
func stagesOf(targets []string) (s Stage) {
	for _, t := range targets {
		s |= stageOf[t]
	}
	return s
}

// A Doctor runs the checks. Each way it looks at the world is a field that
// tests replace; New fills in the real ones.
type Doctor struct {
	Env       settings.Env
	Dir       string                                    // the repository's root: its go.mod; relative paths start there
	GoVersion func(ctx context.Context) (string, error) // the go command's version, e.g. go1.26.8
	LookPath  func(file string) (string, error)
	Git       func(ctx context.Context) (gitinfo.Info, error)
	Docker    func(ctx context.Context) (docker.Version, error) // what the engine says of itself
	// Online checks, each bounded by Timeout (zero means 20 seconds).
	Heroku    func(cfg heroku.Config) (*heroku.Client, error)
	CheckPush func(ctx context.Context, img registry.Image) error
	Timeout   time.Duration
}

// New returns a Doctor for the repository at dir, the process environment,
// the Docker engine it names, the registries and the Heroku API. go and git
// run through r, which shows what they say when they fail.
func New(r *runner.Runner, dir string) *Doctor {
	return &Doctor{
		Env: settings.OS, Dir: dir, LookPath: exec.LookPath, Heroku: heroku.New, CheckPush: registry.CheckPush,
		GoVersion: func(ctx context.Context) (string, error) {
			return r.Output(ctx, runner.Cmd{Name: "go", Args: []string{"env", "GOVERSION"}, Dir: dir})
		},
		Git: func(ctx context.Context) (gitinfo.Info, error) { return gitinfo.Read(ctx, r, dir) },
		Docker: func(ctx context.Context) (docker.Version, error) {
			e, err := docker.Connect(ctx)
			if err != nil {
				return docker.Version{}, err
			}
			defer func() { _ = e.Close() }()
			return e.Version(ctx)
		},
	}
}

// Run runs the checks the stages need (the online ones too when online) and
// returns their results, narrowed to those stages, secrets masked.
func (d *Doctor) Run(ctx context.Context, stages Stage, online bool) *Report {
	red := redact.New(settings.Secrets(d.Env)...)
	rep := &Report{Stages: stages, Online: online}
	add := func(results ...Result) {
		for _, res := range results {
			if res.Stages &= stages; res.Stages != 0 {
				res.Detail, res.Fix = red.String(res.Detail), red.String(res.Fix)
				rep.Results = append(rep.Results, res)
			}
		}
	}
	add(d.goToolchain(ctx))
	if stages&(Test|Build|Push) != 0 { // deploy copies the image from registry to registry
		add(d.dockerEngine(ctx, stages&(Build|Push) != 0))
	}
	if stages&(Build|Push|Deploy) != 0 {
		add(d.gitCheckout(ctx, stages&(Push|Deploy) != 0))
	}
	for _, t := range tools {
		add(d.tool(t))
	}
	for _, v := range settings.All {
		add(d.variable(v, stages))
	}
	add(d.sentryPartial())
	if online && stages&(Push|Deploy) != 0 {
		add(d.online(ctx, stages&Deploy != 0)...)
	}
	return rep
}

// env returns name's value, blank counting as unset, as for settings.Load.
func (d *Doctor) env(name string) string {
	val, _ := d.Env(name)
	return strings.TrimSpace(val)
}

// get returns v's value, or its default.
func (d *Doctor) get(v settings.Var) string { return cmp.Or(d.env(v.Name), v.Default) }

func (d *Doctor) goToolchain(ctx context.Context) Result {
	res := Result{Check: "Go", Stages: Stages}
	mod, err := os.ReadFile(filepath.Join(d.Dir, "go.mod"))
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(mod) // the go line
	if m == nil {
		return res.with(Fail, cmp.Or(err, errors.New("go.mod has no go line")).Error(), "run the doctor from the repository's root")
	}
	want := string(m[1])
	fix := fmt.Sprintf("install Go %s or later (go.dev/dl), or unset GOTOOLCHAIN=local so that Go fetches it", want)
	have, err := d.GoVersion(ctx)
	switch {
	case err != nil:
		return res.with(Fail, err.Error(), fix)
	case version.Compare(have, "go"+want) < 0:
		return res.with(Fail, fmt.Sprintf("%s, but go.mod asks for go %s", have, want), fix)
	}
	return res.with(OK, fmt.Sprintf("%s (go.mod asks for go %s)", have, want), "")
}

// engineFix is how to get an engine, as docker.Connect's error says it.
const engineFix = "start Docker Desktop or dockerd (on Debian or Ubuntu: sudo .ci/start-dockerd), or point DOCKER_HOST at a running engine"

// dockerEngine asks the engine what it is. Build and push need one; the
// tests run their integration part with it, and skip it without (not in CI).
func (d *Doctor) dockerEngine(ctx context.Context, building bool) Result {
	res := Result{Check: "Docker engine", Stages: Test | Build | Push}
	v, err := d.Docker(ctx)
	if err == nil {
		return res.with(OK, fmt.Sprintf("%s, API %s, %s/%s", v.Engine, v.APIVersion, v.OS, v.Arch), "")
	}
	detail := strings.TrimSuffix(err.Error(), ": "+engineFix)
	if d.env("CI") == "" && !building {
		return res.with(Warn, detail+": the integration tests will be skipped", engineFix)
	}
	if d.env("CI") == "" {
		res.Stages = Build | Push // the tests do without it
	}
	return res.with(Fail, detail, engineFix)
}

// gitCheckout reads the commit that build tags the image with; push and
// deploy (publishing) need it to have no uncommitted changes.
func (d *Doctor) gitCheckout(ctx context.Context, publishing bool) Result {
	res := Result{Check: "git checkout", Stages: Build | Push | Deploy}
	info, err := d.Git(ctx)
	switch {
	case err != nil:
		return res.with(Fail, err.Error(), "run from a git clone of the project with at least one commit (git must be installed)")
	case !info.Dirty:
		return res.with(OK, fmt.Sprintf("commit %s, no changes that can reach the image", info.Short()), "")
	}
	detail := fmt.Sprintf("commit %s, with changes that can reach the image", info.Short())
	if publishing {
		res.Stages = Push | Deploy
		return res.with(Fail, detail+": push and deploy publish committed code only", "commit them, or git stash -u (new files count too)")
	}
	return res.with(Warn, detail+": build tags the image <commit>-dirty and leaves latest alone", "commit the changes to build the image of a commit")
}

// A tool is a program the tests or linters run.
type tool struct {
	names    []string // the first is its usual name; others, names it may have
	why, fix string
	skipped  bool // the tests that need it skip without it, except in CI
}

var tools = []tool{
	{[]string{"docker-registry", "registry"}, "the integration tests start it", "sudo apt-get install docker-registry (or sudo .ci/setup)", true},
	{[]string{"shellcheck"}, "mage lint checks the shell scripts with it", "sudo apt-get install shellcheck (brew install shellcheck on macOS)", false},
	{[]string{"wrk"}, "the load test and mage bench run it", "sudo apt-get install wrk (brew install wrk on macOS)", true},
}

func (d *Doctor) tool(t tool) Result {
	res := Result{Check: t.names[0], Stages: Test}
	for _, n := range t.names {
		if path, err := d.LookPath(n); err == nil {
			return res.with(OK, path, "")
		}
	}
	if t.skipped && d.env("CI") == "" {
		return res.with(Warn, "not installed: "+t.why+"; without it they are skipped", t.fix)
	}
	return res.with(Fail, "not installed: "+t.why, t.fix)
}

// variable reports whether v is set and valid for the stages that read
// it, as the catalogue says; never its value when it is a secret.
func (d *Doctor) variable(v settings.Var, stages Stage) Result {
	res := Result{Check: v.Name, Stages: stagesOf(v.Reads)}
	fix := fmt.Sprintf("export %s=<value>", v.Name)
	if v.Context != "" {
		fix += fmt.Sprintf("; in CircleCI, put it in the %s context", v.Context)
	}
	val := d.env(v.Name)
	switch needed, err := stagesOf(v.Needs)&stages, d.validate(v, val); {
	case val == "" && needed != 0:
		res.Stages = stagesOf(v.Needs) // the stages it stands in the way of
		return res.with(Fail, fmt.Sprintf("not set: %s; needed by %s", v.Usage, needed), fix)
	case val == "" && v.Default != "":
		return res.with(OK, "not set: the default is "+v.Default, "")
	case val == "":
		return res.with(OK, strings.TrimSuffix("not set: "+v.Unset, ": "), "")
	case err != nil:
		return res.with(Fail, "invalid: "+err.Error(), fix) // every stage that reads it stops at once
	case v.Secret:
		return res.with(OK, "set (a secret: its value is never shown)", "")
	}
	return res.with(OK, "set", "")
}

// validate says what is wrong with val as v's value: what v's Check says,
// or for CIRCLECI_SCHEMA, whether mage lint can read the file.
func (d *Doctor) validate(v settings.Var, val string) error {
	if v.Check != nil {
		return v.Check(val)
	}
	if v.Name != settings.CircleCISchema.Name {
		return nil
	}
	if !filepath.IsAbs(val) {
		val = filepath.Join(d.Dir, val)
	}
	if _, err := os.ReadFile(val); err != nil {
		return fmt.Errorf("names a file mage lint cannot read (%w); correct it, or unset it for the pinned schema", err)
	}
	return nil
}

// sentryPartial warns when release tracking is half configured; otherwise
// it returns a Result without stages, which Run leaves out.
func (d *Doctor) sentryPartial() Result {
	missing := sentryrelease.Config{
		URL: d.get(settings.SentryURL), Token: d.env(settings.SentryAuthToken.Name),
		Org: d.env(settings.SentryOrg.Name), Project: d.env(settings.SentryProject.Name),
	}.Missing()
	if n := len(missing); n == 0 || n == 3 {
		return Result{}
	}
	return Result{Check: "Sentry releases", Stages: Deploy}.with(Warn,
		strings.Join(missing, ", ")+" not set, but the other release settings are: deploy records no Sentry release",
		"set all three to record releases, or none")
}

// online asks, with no engine, the registries whether the credentials may
// push the image and, for deploy, the Platform API whether it accepts
// HEROKU_API_KEY and whether HEROKU_APP_NAME can run a container image.
func (d *Doctor) online(ctx context.Context, deploy bool) []Result {
	// push asks img's registry; refused is what to do when it refuses.
	push := func(res Result, img registry.Image, refused string, endpoint settings.Var, needs ...settings.Var) Result {
		return d.ask(ctx, res, endpoint, needs, func(ctx context.Context) (string, string, error) {
			err := d.CheckPush(ctx, img)
			if _, ok := errors.AsType[*registry.AuthError](err); !ok {
				refused = ""
			}
			return fmt.Sprintf("accepted: %s may push to %s", img.User, img.Ref), refused, err
		})
	}
	host, user := d.get(settings.DockerRegistry), d.get(settings.DockerHubUser)
	hub := Result{Check: "registry credentials", Stages: Push | Deploy}
	if registry.IsDockerHub(host) {
		hub.Check = "Docker Hub credentials"
	}
	hub = push(hub, registry.Image{Ref: registry.Repository(host, user, d.get(settings.ImageName)), User: user, Password: d.get(settings.DockerHubPass)},
		settings.DockerHubRefused, settings.DockerRegistry, settings.DockerHubUser, settings.DockerHubPass, settings.ImageName)
	if !deploy {
		return []Result{hub}
	}
	client, err := d.Heroku(heroku.Config{APIURL: d.get(settings.HerokuAPIURL), APIKey: d.get(settings.HerokuAPIKey)}) // asks no one
	key := d.ask(ctx, Result{Check: "Heroku API key", Stages: Deploy}, settings.HerokuAPIURL, []settings.Var{settings.HerokuAPIKey},
		func(ctx context.Context) (string, string, error) {
			if err != nil {
				return "", "", err
			}
			acct, err := client.Account(ctx)
			return "accepted, account " + acct.Email, "", err
		})
	app := Result{Check: "Heroku app", Stages: Deploy}.with(Skip, "needs an accepted "+settings.HerokuAPIKey.Name, "")
	if key.Status != Fail {
		app = d.ask(ctx, app, settings.HerokuAPIURL, []settings.Var{settings.HerokuAPIKey, settings.HerokuAppName}, func(ctx context.Context) (string, string, error) {
			a, err := client.App(ctx, d.get(settings.HerokuAppName))
			switch {
			case err != nil:
				return "", "", err
			case a.Generation != "" && a.Generation != "cedar":
				return "", "create a Cedar app with mage heroku:create and a new " + settings.HerokuAppName.Name,
					fmt.Errorf("%s is of Heroku's %s generation, which cannot take container images", a.Name, a.Generation)
			case !a.IsContainer():
				return "", fmt.Sprintf("heroku stack:set container -a %s, or mage heroku:create, which does it", a.Name),
					fmt.Errorf("%s runs on the %s stack: it cannot run a Docker image", a.Name, a.Stack)
			}
			return fmt.Sprintf("%s, container stack, %s", a.Name, a.WebURL), "", nil
		})
	}
	reg := registry.Image{Ref: d.get(settings.HerokuRegistry) + "/" + d.get(settings.HerokuAppName) + "/web", User: "_", Password: d.get(settings.HerokuAPIKey)}
	return []Result{hub, key, app, push(Result{Check: "Heroku registry credentials", Stages: Deploy}, reg,
		settings.HerokuRefused, settings.HerokuRegistry, settings.HerokuAPIKey, settings.HerokuAppName)}
}

// ask runs one bounded check of endpoint and makes its row: a skip unless
// endpoint and needs are set and valid, OK with what check found, or the
// error's first line with the fix check gave, its heroku.Hint, or a default.
func (d *Doctor) ask(ctx context.Context, res Result, endpoint settings.Var, needs []settings.Var, check func(context.Context) (found, fix string, err error)) Result {
	for _, v := range append(needs, endpoint) {
		if val := d.get(v); val == "" || d.validate(v, val) != nil {
			return res.with(Skip, "needs a valid "+v.Name, "")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(d.Timeout, 20*time.Second))
	defer cancel()
	found, fix, err := check(ctx)
	if err == nil {
		return res.with(OK, found, "")
	}
	fix = cmp.Or(fix, heroku.Hint(err), "check "+endpoint.Name+" and the network, then try again")
	return res.with(Fail, strings.TrimSuffix(err.Error(), "; "+fix), fix)
}

// A Status is the outcome of one check, as the table shows it.
type Status string

// The outcomes.
const (
	OK   Status = "ok"   // ready
	Warn Status = "warn" // works, but worth knowing
	Fail Status = "FAIL" // a stage that needs it cannot work until it is fixed
	Skip Status = "skip" // not checked: it needs something that is missing
)

// A Result is the outcome of one check: one row of the table.
type Result struct {
	Check  string // what was checked: "Docker engine", "DOCKERHUB_PASS"
	Stages Stage  // the requested stages that need it; for a Fail, those it stands in the way of
	Status Status
	Detail string // what was found; never the value of a secret
	Fix    string // what to do about a Warn or a Fail
}

// with returns r with its outcome; detail keeps its first line, as a cell.
func (r Result) with(s Status, detail, fix string) Result {
	r.Status, r.Fix = s, fix
	r.Detail, _, _ = strings.Cut(detail, "\n")
	return r
}

// A Report holds the results of a run.
type Report struct {
	Stages  Stage // the stages asked about
	Online  bool  // whether the online checks ran
	Results []Result
}

// Print writes the table and a summary to w, in 100 columns where words
// allow: the DETAIL cells wrap, each fix on lines of its own below.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "Is this machine ready for %s?\n", r.Stages)
	switch {
	case r.Online:
		fmt.Fprintln(w, "Online: the registries and Heroku were asked.")
	case r.Stages&(Push|Deploy) != 0:
		fmt.Fprintln(w, "Offline: add -online to have the registries and Heroku check the credentials.")
	}
	checkWidth, stagesWidth := len("CHECK"), len("STAGES")
	for _, res := range r.Results {
		checkWidth, stagesWidth = max(checkWidth, len(res.Check)), max(stagesWidth, len(res.Stages.column()))
	}
	room := 100 - checkWidth - stagesWidth - len("  "+"  "+"STATUS  ")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCHECK\tSTAGES\tSTATUS\tDETAIL")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Check, res.Stages.column(), res.Status, wrap(res.Detail, room))
		if res.Fix != "" {
			fmt.Fprintf(tw, "\t\t\t%s\n", wrap("fix: "+res.Fix, room))
		}
	}
	_ = tw.Flush()
	blocked, problems := r.blocked()
	fmt.Fprintln(w)
	if ready := r.Stages &^ blocked; ready != 0 {
		fmt.Fprintf(w, "Ready for %s.\n", ready)
	}
	if blocked != 0 {
		fmt.Fprintf(w, "Not ready for %s: %s, each with its fix in the table.\n", blocked, problems)
	}
}

// Err returns an error naming the stages that are not ready, or nil.
func (r *Report) Err() error {
	if blocked, problems := r.blocked(); blocked != 0 {
		return fmt.Errorf("not ready for %s: %s, each with its fix in the table above", blocked, problems)
	}
	return nil
}

// blocked returns the stages failed checks stand in the way of, and how many failed.
func (r *Report) blocked() (stages Stage, problems string) {
	n := 0
	for _, res := range r.Results {
		if res.Status == Fail {
			stages |= res.Stages
			n++
		}
	}
	if n == 1 {
		return stages, "1 problem"
	}
	return stages, fmt.Sprintf("%d problems", n)
}
