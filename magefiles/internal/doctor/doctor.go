// Package doctor checks that a machine and its environment are ready for a
// stage of the pipeline, and says how to fix what is not: the Go toolchain,
// the Docker engine, the tools the tests and linters need, the git checkout,
// every environment variable the stage reads (set or not, never its value)
// and, when asked to go online, whether the registries and Heroku accept
// the credentials and whether the Heroku app runs on the container stack.
//
// It is what a newcomer runs first, and what a failing CircleCI job runs to
// explain itself.
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

// ParseStages reads a list of stages separated by commas; "" and "all" mean
// every stage.
func ParseStages(s string) ([]Stage, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "all" {
		return Stages, nil
	}
	var out []Stage
	for _, name := range strings.Split(s, ",") {
		st := Stage(strings.TrimSpace(name))
		if !slices.Contains(Stages, st) {
			return nil, fmt.Errorf("unknown stage %q: choose test, build, push, deploy or all (e.g. -stage=push)", name)
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b Stage) int { return slices.Index(Stages, a) - slices.Index(Stages, b) })
	return out, nil
}

// Engine is what the doctor asks of a Docker engine; *docker.Engine has it.
type Engine interface {
	Version(ctx context.Context) (docker.Version, error)
	Login(ctx context.Context, auth docker.Auth) error
	Close() error
}

// Heroku is what the doctor asks of the Heroku Platform API;
// *heroku.Client has it.
type Heroku interface {
	Account(ctx context.Context) (heroku.Account, error)
	App(ctx context.Context, name string) (heroku.App, error)
}

// A Doctor runs the checks. Each way it looks at the world is a field, so
// that tests can give it another world; New gives it the real one.
type Doctor struct {
	Env       settings.Env
	Dir       string                                    // the repository's root: its go.mod, the schema's default place
	GoVersion func(ctx context.Context) (string, error) // the go command's version, e.g. go1.26.8
	LookPath  func(file string) (string, error)
	Git       func(ctx context.Context) (gitinfo.Info, error)
	Docker    func(ctx context.Context) (Engine, error)
	Heroku    func(cfg heroku.Config) Heroku
	// Timeout bounds each online check; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds each online check.
const DefaultTimeout = 20 * time.Second

// New returns a Doctor for the repository at dir, the process environment,
// the Docker engine it names and the Heroku API. Child processes (go, git)
// run through r; what they print when they fail is left to the table,
// unless r is verbose.
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
		Docker: func(ctx context.Context) (Engine, error) {
			e, err := docker.Connect(ctx)
			if err != nil {
				return nil, err // not a nil *docker.Engine in a non-nil Engine
			}
			return e, nil
		},
		Heroku: func(cfg heroku.Config) Heroku { return heroku.New(cfg) },
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

// Run runs the checks the stages need (the online ones too when online) and
// returns their results.
func (d *Doctor) Run(ctx context.Context, stages []Stage, online bool) *Report {
	red := redact.New(settings.Secrets(d.Env)...)
	rep := &Report{Stages: stages, Online: online, redactor: red}
	add := func(res Result) {
		for _, st := range res.Stages {
			if slices.Contains(stages, st) {
				res.Stages = intersect(res.Stages, stages)
				res.Detail = red.String(res.Detail)
				res.Fix = red.String(res.Fix)
				rep.Results = append(rep.Results, res)
				return
			}
		}
	}
	add(d.goToolchain(ctx))
	engine, res := d.dockerEngine(ctx, stages) // every stage uses it
	add(res)
	if engine != nil {
		defer func() { _ = engine.Close() }()
	}
	if len(intersect(stages, []Stage{Build, Push, Deploy})) > 0 {
		add(d.gitCheckout(ctx, stages))
	}
	add(d.tool(Test, tool{
		name: "docker-registry", alias: "registry", why: "the integration tests start it",
		fix: "sudo apt-get install docker-registry (or sudo .ci/setup)", skippedWithout: true,
	}))
	add(d.tool(Test, tool{
		name: "shellcheck", why: "mage lint checks the shell scripts with it",
		fix: "sudo apt-get install shellcheck (brew install shellcheck on macOS)",
	}))
	add(d.tool(Test, tool{
		name: "wrk", why: "the load test and mage bench run it",
		fix: "sudo apt-get install wrk (brew install wrk on macOS)", skippedWithout: true,
	}))
	add(d.circleCISchema())
	for _, v := range variables {
		add(d.variable(v, stages))
	}
	if partial := d.sentryPartial(); partial.Check != "" {
		add(partial)
	}
	if online {
		for _, res := range d.onlineChecks(ctx, engine, stages) {
			add(res)
		}
	}
	return rep
}

func intersect(a, b []Stage) []Stage {
	var out []Stage
	for _, s := range Stages {
		if slices.Contains(a, s) && slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// timeout returns the bound of one online check.
func (d *Doctor) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

// firstLine keeps an error's first line: a table cell is one line.
func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
