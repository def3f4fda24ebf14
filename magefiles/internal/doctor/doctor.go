// Package doctor checks that a machine is ready for stages of the pipeline,
// and says how to fix what is not: the Go toolchain, the Docker engine, the
// git checkout, the tools, every environment variable the stages read (never
// a secret's value) and, online, whether the registries and Heroku accept the
// credentials. It is the one package that reads a settings.Env itself.
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

	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws"
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

// wrap breaks s between words into lines of at most n bytes, for the DETAIL column.
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

// A Doctor runs the checks; tests replace its ways of looking at the world, New fills in the real ones.
type Doctor struct {
	Env       settings.Env
	Dir       string                                    // the repository's root: its go.mod; relative paths start there
	GoVersion func(ctx context.Context) (string, error) // the go command's version, e.g. go1.26.8
	LookPath  func(file string) (string, error)
	Git       func(ctx context.Context) (gitinfo.Info, error)
	Docker    func(ctx context.Context) (docker.Version, error)
	Heroku    func(cfg heroku.Config) (*heroku.Client, error)
	CheckPush func(ctx context.Context, img registry.Image) error
	// AWS runs deploy's AWS preflight: who the credentials are, and that the
	// repository and the roles exist.
	AWS     func(ctx context.Context) (found, fix string, err error)
	Timeout time.Duration // bounds each online check; zero means 20 seconds
}

// New returns a Doctor for the repository at dir and the real world; go and git run through r.
func New(r *runner.Runner, dir string) *Doctor {
	return &Doctor{
		Env: settings.OS, Dir: dir, LookPath: exec.LookPath, Heroku: heroku.New, CheckPush: registry.CheckPush, AWS: awsPreflight,
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

// Run runs the checks the stages need (online ones too when online): results for those stages, secrets masked.
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

// get returns v's value, or its default.
func (d *Doctor) get(v settings.Var) string { return cmp.Or(d.Env.Value(v.Name), v.Default) }

func (d *Doctor) goToolchain(ctx context.Context) Result {
	res := Result{Check: "Go", Stages: Stages}
	mod, err := os.ReadFile(filepath.Join(d.Dir, "go.mod"))
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(mod) // the go line
	if m == nil {
		err = cmp.Or(err, errors.New("go.mod has no go line"))
		return res.with(Fail, err.Error(), "run the doctor from the repository's root")
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
const engineFix = "start Docker Desktop or dockerd (on Debian or Ubuntu: sudo .ci/start-dockerd), " +
	"or point DOCKER_HOST at a running engine"

// dockerEngine asks the engine what it is. Build and push need one; the
// tests run their integration part with it, and skip it without (not in CI).
func (d *Doctor) dockerEngine(ctx context.Context, building bool) Result {
	res := Result{Check: "Docker engine", Stages: Test | Build | Push}
	v, err := d.Docker(ctx)
	if err == nil {
		return res.with(OK, fmt.Sprintf("%s, API %s, %s/%s", v.Engine, v.APIVersion, v.OS, v.Arch), "")
	}
	detail := strings.TrimSuffix(err.Error(), ": "+engineFix)
	if d.Env.Value("CI") == "" && !building {
		return res.with(Warn, detail+": the integration tests will be skipped", engineFix)
	}
	if d.Env.Value("CI") == "" {
		res.Stages = Build | Push // the tests do without it
	}
	return res.with(Fail, detail, engineFix)
}

// gitCheckout reads the commit build tags the image with; publishing needs no uncommitted changes.
func (d *Doctor) gitCheckout(ctx context.Context, publishing bool) Result {
	res := Result{Check: "git checkout", Stages: Build | Push | Deploy}
	info, err := d.Git(ctx)
	switch {
	case err != nil:
		return res.with(Fail, err.Error(), "run from a git clone of the project with at least one commit "+
			"(git must be installed)")
	case !info.Dirty:
		return res.with(OK, "commit "+info.Short()+", no changes that can reach the image", "")
	}
	detail := "commit " + info.Short() + ", with changes that can reach the image: "
	if publishing {
		res.Stages = Push | Deploy
		return res.with(Fail, detail+"push and deploy publish committed code only",
			"commit them, or git stash -u (new files count too)")
	}
	return res.with(Warn, detail+"build tags the image <commit>-dirty and leaves latest alone",
		"commit the changes to build the image of a commit")
}

// A tool is a program the tests or linters run, from the Debian package of its name.
type tool struct {
	names        []string // the first is its usual name; others, names it may have
	why, instead string   // instead: another way to install it
	skipped      bool     // the tests that need it skip without it, except in CI
}

var tools = []tool{
	{[]string{"docker-registry", "registry"}, "the integration tests start it", "or sudo .ci/setup", true},
	{[]string{"shellcheck"}, "mage lint checks the shell scripts with it", "brew install shellcheck on macOS", false},
	{[]string{"wrk"}, "the load test and mage bench run it", "brew install wrk on macOS", true},
	{[]string{"chromium", "chromium-browser", "google-chrome"}, "the browser tests drive it", "or Google Chrome", true},
}

func (d *Doctor) tool(t tool) Result {
	res := Result{Check: t.names[0], Stages: Test}
	for _, n := range t.names {
		if path, err := d.LookPath(n); err == nil {
			return res.with(OK, path, "")
		}
	}
	fix := fmt.Sprintf("sudo apt-get install %s (%s)", t.names[0], t.instead)
	if t.skipped && d.Env.Value("CI") == "" {
		return res.with(Warn, "not installed: "+t.why+"; without it they are skipped", fix)
	}
	return res.with(Fail, "not installed: "+t.why, fix)
}

// variable reports whether v is set and valid for the stages that read it.
func (d *Doctor) variable(v settings.Var, stages Stage) Result {
	reads, needs := stagesOf(v.Reads), stagesOf(v.Needs)
	if !v.ReadBy(settings.Deploy, d.Env) { // another platform's
		reads, needs = reads&^Deploy, needs&^Deploy
	}
	res := Result{Check: v.Name, Stages: reads}
	fix := fmt.Sprintf("export %s=<value>", v.Name)
	if v.Context != "" {
		fix += fmt.Sprintf("; in CircleCI, put it in the %s context", v.Context)
	}
	val := d.Env.Value(v.Name)
	switch needed, err := needs&stages, d.validate(v, val); {
	case val == "" && needed != 0:
		res.Stages = needs // the stages it stands in the way of
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

// validate checks val as v's Check does, and CIRCLECI_SCHEMA's file.
func (d *Doctor) validate(v settings.Var, val string) error {
	switch {
	case v.Check != nil:
		return v.Check(val)
	case v.Name != settings.CircleCISchema.Name:
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

// sentryPartial warns when release tracking is half configured, else returns no row.
func (d *Doctor) sentryPartial() Result {
	missing := sentryrelease.Config{
		Token: d.get(settings.SentryAuthToken), Org: d.get(settings.SentryOrg), Project: d.get(settings.SentryProject),
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
	push := func(img registry.Image, refused string) probe {
		return func(ctx context.Context) (string, string, error) {
			err := d.CheckPush(ctx, img)
			if _, ok := errors.AsType[*registry.AuthError](err); !ok {
				refused = ""
			}
			return fmt.Sprintf("accepted: %s may push to %s", img.User, img.Ref), refused, err
		}
	}
	host, user, apiKey := d.get(settings.DockerRegistry), d.get(settings.DockerHubUser), d.get(settings.HerokuAPIKey)
	hub := Result{Check: "registry credentials", Stages: Push | Deploy}
	if registry.IsDockerHub(host) {
		hub.Check = "Docker Hub credentials"
	}
	img := registry.Image{Ref: registry.Repository(host, user, d.get(settings.ImageName)), User: user}
	img.Password = d.get(settings.DockerHubPass)
	hub = d.ask(ctx, hub, push(img, settings.DockerHubRefused),
		settings.DockerRegistry, settings.DockerHubUser, settings.DockerHubPass, settings.ImageName)
	switch {
	case !deploy:
		return []Result{hub}
	case d.get(settings.DeployPlatform) == settings.AWS:
		return []Result{hub, d.ask(ctx, Result{Check: "AWS preflight", Stages: Deploy}, d.AWS,
			settings.AWSRegion, settings.ECSServiceName)}
	}
	client, err := d.Heroku(heroku.Config{APIURL: d.get(settings.HerokuAPIURL), APIKey: apiKey}) // asks no one
	account := func(ctx context.Context) (string, string, error) {
		if err != nil {
			return "", "", err
		}
		acct, err := client.Account(ctx)
		return "accepted, account " + acct.Email, "", err
	}
	key := d.ask(ctx, Result{Check: "Heroku API key", Stages: Deploy}, account,
		settings.HerokuAPIURL, settings.HerokuAPIKey)
	name := d.get(settings.HerokuAppName)
	container := func(ctx context.Context) (string, string, error) {
		a, err := client.App(ctx, name)
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
	}
	app := Result{Check: "Heroku app", Stages: Deploy}.with(Skip, "needs an accepted "+settings.HerokuAPIKey.Name, "")
	if key.Status != Fail {
		app = d.ask(ctx, app, container, settings.HerokuAPIURL, settings.HerokuAPIKey, settings.HerokuAppName)
	}
	img = registry.Image{Ref: d.get(settings.HerokuRegistry) + "/" + name + "/web", User: "_", Password: apiKey}
	return []Result{hub, key, app, d.ask(ctx, Result{Check: "Heroku registry credentials", Stages: Deploy},
		push(img, settings.HerokuRefused), settings.HerokuRegistry, settings.HerokuAPIKey, settings.HerokuAppName)}
}

// awsPreflight runs deploy's AWS preflight, as the environment sets it up.
func awsPreflight(ctx context.Context) (string, string, error) {
	vals, err := settings.Load(settings.OS, settings.Deploy)
	if err != nil {
		return "", "", err
	}
	var out strings.Builder
	p, err := aws.NewPlatform(ctx, vals, &out)
	if err != nil {
		return "", "", err
	}
	_, err = p.Preflight(ctx)
	var fix string
	if e, ok := errors.AsType[*aws.Error](err); ok {
		fix = e.Fix
	}
	return strings.TrimPrefix(strings.TrimSpace(out.String()), "preflight ok: "), fix, err
}

// A probe asks a service one question: what it found, or an error and, perhaps, its fix.
type probe func(ctx context.Context) (found, fix string, err error)

// ask runs one bounded probe of endpoint and makes its row: a skip unless
// needs and endpoint are set and valid, OK with what it found, or the
// error's first line with the fix the probe gave, its heroku.Hint, or a default.
func (d *Doctor) ask(ctx context.Context, res Result, p probe, endpoint settings.Var, needs ...settings.Var) Result {
	for _, v := range append(needs, endpoint) {
		if val := d.get(v); val == "" || d.validate(v, val) != nil {
			return res.with(Skip, "needs a valid "+v.Name, "")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(d.Timeout, 20*time.Second))
	defer cancel()
	found, fix, err := p(ctx)
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

// Print writes the table, 100 columns wide where words allow, and a summary to w.
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
