package doctor

import (
	"cmp"
	"context"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// inCI reports whether the environment is CI, where the tests fail rather
// than skip without the Docker engine and the tools.
func (d *Doctor) inCI() bool {
	v, _ := d.Env("CI")
	return v != ""
}

// lookup returns the value the environment gives v, blank counting as
// unset, as for settings.Load.
func (d *Doctor) lookup(v settings.Var) string {
	val, _ := d.Env(v.Name)
	return strings.TrimSpace(val)
}

// get returns v's value, or its default.
func (d *Doctor) get(v settings.Var) string { return cmp.Or(d.lookup(v), v.Default) }

func (d *Doctor) goToolchain(ctx context.Context) Result {
	res := Result{Check: "Go", Stages: Stages}
	want, err := goModVersion(filepath.Join(d.Dir, "go.mod"))
	if err != nil {
		return res.fail(firstLine(err), "run the doctor from the repository's root")
	}
	fix := fmt.Sprintf("install Go %s or later (go.dev/dl), or unset GOTOOLCHAIN=local so that Go fetches it", want)
	have, err := d.GoVersion(ctx)
	if err != nil {
		return res.fail(firstLine(err), fix)
	}
	if version.Compare(have, "go"+want) < 0 {
		return res.fail(fmt.Sprintf("%s, but go.mod asks for go %s", have, want), fix)
	}
	return res.ok(fmt.Sprintf("%s (go.mod asks for go %s)", have, want))
}

// goModVersion returns the version of go.mod's go line.
func goModVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "go" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s has no go line", path)
}

// engineStages need the Docker engine: build and push, and test for the
// integration tests. Deploy copies the image from registry to registry.
var engineStages = []Stage{Test, Build, Push}

// engineFix is how to get an engine, as docker.Connect's error says it.
const engineFix = "start Docker Desktop or dockerd (on Debian or Ubuntu: sudo .ci/start-dockerd), or point DOCKER_HOST at a running engine"

func (d *Doctor) dockerEngine(ctx context.Context, stages []Stage) Result {
	res := Result{Check: "Docker engine", Stages: engineStages}
	v, err := d.Docker(ctx)
	if err == nil {
		return res.ok(fmt.Sprintf("%s, API %s, %s/%s", v.Engine, v.APIVersion, v.OS, v.Arch))
	}
	detail := strings.TrimSuffix(firstLine(err), ": "+engineFix)
	switch {
	case d.inCI():
		return res.fail(detail, engineFix)
	case len(intersect(stages, []Stage{Build, Push})) > 0:
		return res.fail(detail, engineFix).blocking(Build, Push)
	}
	return res.warn(detail+": the integration tests will be skipped", engineFix)
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
	names    []string // the first is its usual name; others, names it may have
	why, fix string
	skipped  bool // the tests that need it skip without it, except in CI
}

// tools are what the test stage runs besides Go.
var tools = []tool{
	{[]string{"docker-registry", "registry"}, "the integration tests start it", "sudo apt-get install docker-registry (or sudo .ci/setup)", true},
	{[]string{"shellcheck"}, "mage lint checks the shell scripts with it", "sudo apt-get install shellcheck (brew install shellcheck on macOS)", false},
	{[]string{"wrk"}, "the load test and mage bench run it", "sudo apt-get install wrk (brew install wrk on macOS)", true},
}

func (d *Doctor) tool(t tool) Result {
	res := Result{Check: t.names[0], Stages: []Stage{Test}}
	for _, n := range t.names {
		if path, err := d.LookPath(n); err == nil {
			return res.ok(path)
		}
	}
	if t.skipped && !d.inCI() {
		return res.warn("not installed: "+t.why+"; without it they are skipped", t.fix)
	}
	return res.fail("not installed: "+t.why, t.fix)
}

// variable reports whether v is set and valid for the stages that read
// it, as the catalogue says; never its value when it is a secret.
func (d *Doctor) variable(v settings.Var, stages []Stage) Result {
	res := Result{Check: v.Name, Stages: stagesOf(v.Reads)}
	fix := fmt.Sprintf("export %s=<%s>", v.Name, v.Usage)
	if v.Context != "" {
		fix += fmt.Sprintf("; in CircleCI, put it in the %s context", v.Context)
	}
	val := d.lookup(v)
	needed := intersect(stagesOf(v.Needs), stages)
	switch {
	case val == "" && len(needed) > 0:
		verb := "needs"
		if len(needed) > 1 {
			verb = "need"
		}
		return res.fail(fmt.Sprintf("not set: %s %s it", and(needed), verb), fix).blocking(stagesOf(v.Needs)...)
	case val == "" && v.Unset != "":
		return res.ok("not set: " + v.Unset)
	case val == "" && v.Default != "":
		return res.ok("not set: the default is " + v.Default)
	case val == "":
		return res.ok("not set")
	}
	if err := d.validate(v, val); err != nil {
		return res.fail("invalid: "+firstLine(err), fix) // every stage that reads it stops at once
	}
	if v.Secret {
		return res.ok("set (a secret: its value is never shown)")
	}
	return res.ok("set")
}

// validate says what is wrong with val as v's value: what v's Check says,
// and for CIRCLECI_SCHEMA, whether mage lint can read the file.
func (d *Doctor) validate(v settings.Var, val string) error {
	if v.Check != nil {
		if err := v.Check(val); err != nil {
			return err
		}
	}
	if v.Name == settings.CircleCISchema.Name {
		if !filepath.IsAbs(val) {
			val = filepath.Join(d.Dir, val)
		}
		if _, err := os.ReadFile(val); err != nil {
			return fmt.Errorf("names a file mage lint cannot read (%w); correct it, or unset it for the pinned schema", err)
		}
	}
	return nil
}

// lacking says why a check cannot run without vars ("needs X and a valid
// Y"), or returns "" when each is set, or has a default, and is valid.
func (d *Doctor) lacking(vars ...settings.Var) string {
	var names []string
	for _, v := range vars {
		switch val := d.get(v); {
		case val == "":
			names = append(names, v.Name)
		case d.validate(v, val) != nil:
			names = append(names, "a valid "+v.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "needs " + strings.Join(names, " and ")
}

// sentryPartial warns when release tracking is half configured: deploy
// records releases only when all three settings are set. It returns a
// Result without stages, which Run leaves out, when there is nothing to say.
func (d *Doctor) sentryPartial() Result {
	missing := sentryrelease.Config{
		URL:     d.get(settings.SentryURL),
		Token:   d.lookup(settings.SentryAuthToken),
		Org:     d.lookup(settings.SentryOrg),
		Project: d.lookup(settings.SentryProject),
	}.Missing()
	if n := len(missing); n == 0 || n == 3 {
		return Result{}
	}
	return Result{Check: "Sentry releases", Stages: []Stage{Deploy}}.warn(
		strings.Join(missing, ", ")+" not set, but the other release settings are: deploy records no Sentry release",
		"set all three to record releases, or none")
}
