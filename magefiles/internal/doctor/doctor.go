// Package doctor checks that a machine and its environment are ready for a
// stage of the pipeline, and says how to fix what is not: the Go toolchain,
// the Docker engine, the tools the tests and linters need, the git checkout,
// every environment variable the stage reads (set, unset or invalid, as the
// settings catalogue says; never the value of a secret) and, when asked to
// go online, whether the registries and Heroku accept the credentials and
// whether the Heroku app can run a container image.
//
// It is what a newcomer runs first, and what a failing CircleCI job runs to
// explain itself. It is the one package that reads a settings.Env itself:
// diagnosing the environment is its job.
package doctor

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// A Stage is a part of the pipeline, as a CircleCI job or a person runs it.
type Stage string

// The stages, in pipeline order.
const (
	Test   Stage = "test"   // go tool mage lint test
	Build  Stage = "build"  // go tool mage build
	Push   Stage = "push"   // go tool mage push
	Deploy Stage = "deploy" // go tool mage deploy
)

// Stages lists every stage in pipeline order.
var Stages = []Stage{Test, Build, Push, Deploy}

// stageOf gives the stage that runs each target the settings catalogue
// names, for the targets the stages run.
var stageOf = map[string]Stage{
	settings.Test: Test, settings.Lint: Test, settings.Build: Build, settings.Push: Push, settings.Deploy: Deploy,
}

// stagesOf returns the stages that run targets, in pipeline order.
func stagesOf(targets []string) []Stage {
	var out []Stage
	for _, t := range targets {
		out = append(out, stageOf[t]) // "" for the others, which intersect drops
	}
	return intersect(Stages, out)
}

// ParseStages reads a list of stages separated by commas; "" and "all" mean
// every stage.
func ParseStages(s string) ([]Stage, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "all" {
		return Stages, nil
	}
	var asked []Stage
	for name := range strings.SplitSeq(s, ",") {
		st := Stage(strings.TrimSpace(name))
		if !slices.Contains(Stages, st) {
			return nil, fmt.Errorf("unknown stage %q: choose test, build, push, deploy or all (e.g. -stage=push)", name)
		}
		asked = append(asked, st)
	}
	return intersect(Stages, asked), nil
}

// A Doctor runs the checks. Each way it looks at the world is a field, so
// that tests can give it another world; New gives it the real one.
type Doctor struct {
	Env       settings.Env
	Dir       string                                    // the repository's root: its go.mod; relative paths start there
	GoVersion func(ctx context.Context) (string, error) // the go command's version, e.g. go1.26.8
	LookPath  func(file string) (string, error)
	Git       func(ctx context.Context) (gitinfo.Info, error)
	Docker    func(ctx context.Context) (docker.Version, error) // what the engine says of itself
	// Online checks.
	Heroku    func(cfg heroku.Config) (*heroku.Client, error)
	CheckPush func(ctx context.Context, img registry.Image) error
	// Timeout bounds each online check; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds each online check.
const DefaultTimeout = 20 * time.Second

// New returns a Doctor for the repository at dir, the process environment,
// the Docker engine it names, the registries and the Heroku API. Child
// processes (go, git) run through r; what they print when they fail is left
// to the table, unless r is verbose.
func New(r *runner.Runner, dir string) *Doctor {
	quiet := *r
	if !quiet.Verbose {
		quiet.Out = io.Discard
	}
	return &Doctor{
		Env:       settings.OS,
		Dir:       dir,
		GoVersion: func(ctx context.Context) (string, error) { return goVersion(ctx, r, dir) },
		LookPath:  exec.LookPath,
		Git:       func(ctx context.Context) (gitinfo.Info, error) { return gitinfo.Read(ctx, &quiet, dir) },
		Docker:    engineVersion,
		Heroku:    heroku.New,
		CheckPush: registry.CheckPush,
	}
}

// goVersion asks the go command in dir its version. When it cannot answer
// (a go.mod that asks for a newer Go, with GOTOOLCHAIN=local), the error
// carries what go said.
func goVersion(ctx context.Context, r *runner.Runner, dir string) (string, error) {
	var said strings.Builder
	q := runner.Runner{Out: &said, Redactor: r.Redactor}
	v, err := q.Output(ctx, runner.Cmd{Name: "go", Args: []string{"env", "GOVERSION"}, Dir: dir})
	if err != nil && strings.TrimSpace(said.String()) != "" {
		return "", fmt.Errorf("%s (%w)", strings.TrimSpace(said.String()), err)
	}
	return v, err
}

// engineVersion connects to the Docker engine the environment names and
// asks what it is.
func engineVersion(ctx context.Context) (docker.Version, error) {
	e, err := docker.Connect(ctx)
	if err != nil {
		return docker.Version{}, err
	}
	defer func() { _ = e.Close() }()
	return e.Version(ctx)
}

// Run runs the checks the stages need (the online ones too when online) and
// returns their results.
func (d *Doctor) Run(ctx context.Context, stages []Stage, online bool) *Report {
	red := redact.New(settings.Secrets(d.Env)...)
	rep := &Report{Stages: stages, Online: online, redactor: red}
	add := func(res Result) {
		if res.Stages = intersect(res.Stages, stages); len(res.Stages) > 0 {
			res.Detail, res.Fix = red.String(res.Detail), red.String(res.Fix)
			rep.Results = append(rep.Results, res)
		}
	}
	wants := func(some ...Stage) bool { return len(intersect(stages, some)) > 0 }

	add(d.goToolchain(ctx))
	if wants(engineStages...) {
		add(d.dockerEngine(ctx, stages))
	}
	if wants(Build, Push, Deploy) {
		add(d.gitCheckout(ctx, stages))
	}
	for _, t := range tools {
		add(d.tool(t))
	}
	for _, v := range settings.All {
		add(d.variable(v, stages))
	}
	add(d.sentryPartial())
	if online {
		if wants(Push, Deploy) {
			add(d.imageRegistry(ctx))
		}
		if wants(Deploy) {
			for _, res := range d.herokuChecks(ctx) {
				add(res)
			}
		}
	}
	return rep
}

// intersect returns the stages in both a and b, in pipeline order.
func intersect(a, b []Stage) []Stage {
	var out []Stage
	for _, s := range Stages {
		if slices.Contains(a, s) && slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// firstLine keeps an error's first line: a table cell is one line.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
