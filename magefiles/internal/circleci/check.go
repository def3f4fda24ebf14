package circleci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Rules are what the project asks of its pipeline beyond CircleCI's schema.
type Rules struct {
	// Chain lists the jobs of the delivery workflow in the order they must
	// run: each requires the one before it to succeed.
	Chain []string
	// Branch is the only branch the jobs after the first may run on; the
	// first runs on every branch and gets no context (no secrets).
	Branch string
	// Targets lists, per job, the mage targets it must call.
	Targets map[string][]string
	// DockerTargets are targets that need a Docker engine: a job calling
	// one needs setup_remote_docker or a machine executor.
	DockerTargets []string
	// LocalDockerTargets are targets whose Docker engine must run on the
	// job's own host (the integration tests reach containers and a registry
	// on loopback): a job calling one needs a machine executor.
	LocalDockerTargets []string
	// ResultsTargets are targets that write test results to
	// TEST_RESULTS_DIR: a job calling one sets it and stores it with
	// store_test_results.
	ResultsTargets []string
	// GoVersion is go.mod's go version (1.26.0); a cimg/go image must have
	// the same major.minor.
	GoVersion string
	// Secrets are variables the config must never set itself.
	Secrets []string
}

// ProjectRules returns the rules of the project at dir: the three-job
// chain, master, and the Go version from dir's go.mod.
func ProjectRules(dir string) (Rules, error) {
	goVersion, err := GoModVersion(filepath.Join(dir, "go.mod"))
	if err != nil {
		return Rules{}, err
	}
	var secrets []string
	for _, v := range settings.All {
		if v.Secret {
			secrets = append(secrets, v.Name)
		}
	}
	return Rules{
		Chain:  []string{"test-and-lint", "build-and-push", "deploy"},
		Branch: "master",
		Targets: map[string][]string{
			"test-and-lint":  {"lint", "test"},
			"build-and-push": {"build", "push"},
			"deploy":         {"deploy"},
		},
		DockerTargets:      []string{"build", "push", "deploy", "runLocal"},
		LocalDockerTargets: []string{"test"},
		ResultsTargets:     []string{"test"},
		GoVersion:          goVersion,
		Secrets:            secrets,
	}, nil
}

// GoModVersion returns the version on the go line of the go.mod at path.
func GoModVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the Go version from go.mod: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s has no go line", path)
}

// minor returns the major.minor part of a Go version: 1.26.0 → 1.26.
func minor(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// A Problem is one thing wrong with the config.
type Problem struct {
	Line    int
	Message string
}

// sortProblems sorts problems by line, keeping the order of those on one line.
func sortProblems(problems []Problem) []Problem {
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	return problems
}

// Error reports the problems found in a config.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problem(s):", e.File, len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s:%d: %s", e.File, p.Line, p.Message)
	}
	return b.String()
}

// The steps CircleCI provides; any other step type invokes a command.
var builtinSteps = map[string]bool{
	"run": true, "checkout": true, "setup_remote_docker": true, "save_cache": true,
	"restore_cache": true, "store_artifacts": true, "store_test_results": true,
	"persist_to_workspace": true, "attach_workspace": true, "add_ssh_keys": true,
	"when": true, "unless": true, "deploy": true,
}

// Check returns every way c breaks rules, in line order. targets answers
// which mage targets exist; an error means it could not answer.
func Check(ctx context.Context, c *Config, rules Rules, targets Targets) ([]Problem, error) {
	k := &checker{c: c, rules: rules}
	k.references()
	k.chain()
	k.goImages()
	k.secrets()
	if err := k.mage(ctx, Memo(targets)); err != nil {
		return nil, err
	}
	return sortProblems(k.problems), nil
}

type checker struct {
	c        *Config
	rules    Rules
	problems []Problem
}

func (k *checker) add(line int, format string, args ...any) {
	k.problems = append(k.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

// declared reports whether name is in defined, or belongs to a declared orb
// (orb/name), which the offline check cannot look into.
func (k *checker) declared(name string, defined bool) bool {
	if orb, _, ok := strings.Cut(name, "/"); ok {
		return k.c.Orbs[orb]
	}
	return defined
}

// references checks that what workflows, jobs and steps name exists.
func (k *checker) references() {
	for _, w := range k.c.Workflows {
		names := map[string]bool{}
		for _, wj := range w.Jobs {
			if names[wj.Name] {
				k.add(wj.Line, "workflow %s runs %s twice: give one a name: of its own", w.Name, wj.Name)
			}
			names[wj.Name] = true
		}
		for _, wj := range w.Jobs {
			if !k.declared(wj.Job, k.c.Jobs[wj.Job] != nil) {
				k.add(wj.Line, "workflow %s runs job %s, which jobs: does not define (it defines %s)",
					w.Name, wj.Job, quoteList(slices.Sorted(maps.Keys(k.c.Jobs))))
			}
			for _, r := range wj.Requires {
				if !names[r.Job] {
					k.add(r.Line, "in workflow %s, %s requires %s, which is not a job of this workflow", w.Name, wj.Name, r.Job)
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Jobs)) {
		j := k.c.Jobs[name]
		switch {
		case j.Executor != "" && !k.declared(j.Executor, k.c.Executors[j.Executor] != nil):
			k.add(j.Line, "job %s uses executor %s, which executors: does not define (it defines %s)",
				name, j.Executor, quoteList(slices.Sorted(maps.Keys(k.c.Executors))))
		case j.Executor == "" && j.Inline == nil:
			k.add(j.Line, "job %s has no executor: give it executor:, docker: or machine:", name)
		}
	}
	k.eachStep(func(s *Step, where string) {
		if !builtinSteps[s.Type] && !k.declared(s.Type, k.c.Commands[s.Type] != nil) {
			k.add(s.Line, "%s invokes %s, which is neither a CircleCI step nor a command in commands: (%s)",
				where, s.Type, quoteList(slices.Sorted(maps.Keys(k.c.Commands))))
		}
	})
}

// eachStep calls fn once for every step of the config, with where it is:
// the steps of the commands, of the jobs, and of the workflows' pre-steps
// and post-steps, inside when and unless blocks too. A command's steps are
// met once, as the command's, not again under each job that invokes it.
func (k *checker) eachStep(fn func(s *Step, where string)) {
	met := map[*Step]bool{}
	walk := func(steps []Step, where string) {
		k.c.walkSteps(steps, func(s *Step) {
			if !met[s] {
				met[s] = true
				fn(s, where)
			}
		})
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Commands)) {
		walk(k.c.Commands[name].Steps, "command "+name)
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Jobs)) {
		walk(k.c.Jobs[name].Steps, "job "+name)
	}
	for _, w := range k.c.Workflows {
		for _, wj := range w.Jobs {
			walk(wj.PreSteps, "pre-steps of "+wj.Name)
			walk(wj.PostSteps, "post-steps of "+wj.Name)
		}
	}
}

// chain checks the delivery workflow: the jobs, their order and branches.
func (k *checker) chain() {
	if len(k.rules.Chain) == 0 {
		return
	}
	first := k.rules.Chain[0]
	// The delivery workflow is the one that runs most of the chain.
	var w *Workflow
	most := 0
	for _, cand := range k.c.Workflows {
		n := 0
		for _, name := range k.rules.Chain {
			if cand.Job(name) != nil {
				n++
			}
		}
		if cand.Job(first) != nil && n > most {
			w, most = cand, n
		}
	}
	if w == nil {
		k.add(1, "no workflow runs %s: the pipeline is %s", first, strings.Join(k.rules.Chain, " → "))
		return
	}
	if w.Conditional {
		k.add(w.Line, "workflow %s has a when or unless condition: %s must run on every branch", w.Name, first)
	}
	for i, name := range k.rules.Chain {
		wj := w.Job(name)
		if wj == nil {
			k.add(w.Line, "workflow %s does not run %s: the pipeline is %s", w.Name, name, strings.Join(k.rules.Chain, " → "))
			continue
		}
		if i == 0 {
			if wj.Filters != nil && (wj.Filters.Expression != "" || wj.Filters.Branches != nil) {
				k.add(wj.Filters.Line, "%s has a branch filter: it must run on every branch", name)
			}
			if len(wj.Context) > 0 {
				k.add(wj.Line, "%s gets context %s: it runs on every branch and needs no secrets; give contexts only to the jobs that need them",
					name, strings.Join(wj.Context, ", "))
			}
			continue
		}
		k.requires(w, wj, k.rules.Chain[i-1])
		k.onlyBranch(wj)
	}
}

// requires checks that wj waits for prev to succeed.
func (k *checker) requires(w *Workflow, wj *WorkflowJob, prev string) {
	for _, r := range wj.Requires {
		if r.Job != prev {
			continue
		}
		if len(r.Statuses) > 0 && !slices.Equal(r.Statuses, []string{"success"}) {
			k.add(r.Line, "%s requires %s to end %s: it must run only after %s succeeded",
				wj.Name, prev, strings.Join(r.Statuses, " or "), prev)
		}
		return
	}
	k.add(wj.Line, "in workflow %s, %s must require %s (the pipeline is %s), not %s",
		w.Name, wj.Name, prev, strings.Join(k.rules.Chain, " → "), quoteList(requirementNames(wj.Requires)))
}

// onlyBranch checks that wj runs on rules.Branch and nowhere else.
func (k *checker) onlyBranch(wj *WorkflowJob) {
	want := fmt.Sprintf("filters: branches: only: %s", k.rules.Branch)
	f := wj.Filters
	switch {
	case f == nil || (f.Branches == nil && f.Expression == ""):
		k.add(wj.Line, "%s runs on every branch: give it %s", wj.Name, want)
	case f.Expression != "":
		k.add(f.Line, "%s is filtered by an expression this check cannot read: use %s", wj.Name, want)
	case !slices.Equal(f.Branches.Only, []string{k.rules.Branch}):
		if len(f.Branches.Only) == 0 {
			k.add(f.Line, "%s runs on every branch not ignored: use %s", wj.Name, want)
		} else {
			k.add(f.Line, "%s runs on branches matching %s: use %s, which matches that branch alone",
				wj.Name, strings.Join(f.Branches.Only, ", "), want)
		}
	}
	if f != nil && f.Tags != nil && len(f.Tags.Only) > 0 {
		k.add(f.Line, "%s also runs for tags %s: it must run on %s only", wj.Name, strings.Join(f.Tags.Only, ", "), k.rules.Branch)
	}
}

// goImages checks that every cimg/go image has go.mod's Go version.
func (k *checker) goImages() {
	if k.rules.GoVersion == "" {
		return
	}
	want := minor(k.rules.GoVersion)
	check := func(e *Executor, where string) {
		for _, image := range e.Images {
			repo, tag, _ := strings.Cut(image.Ref, ":")
			if repo != "cimg/go" {
				continue
			}
			tag, _, _ = strings.Cut(tag, "-") // 1.26-node: a variant of 1.26
			if minor(tag) != want {
				k.add(image.Line, "%s uses %s, but go.mod says go %s: use cimg/go:%s", where, image.Ref, k.rules.GoVersion, want)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Executors)) {
		check(k.c.Executors[name], "executor "+name)
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Jobs)) {
		if j := k.c.Jobs[name]; j.Inline != nil {
			check(j.Inline, "job "+name)
		}
	}
}

// secrets checks that the config sets no secret itself.
func (k *checker) secrets() {
	check := func(env []Setting, where string) {
		for _, s := range env {
			if slices.Contains(k.rules.Secrets, s.Name) {
				k.add(s.Line, "%s sets %s in the config: secrets belong in a context or the project's environment variables, never in the repository", where, s.Name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Jobs)) {
		check(k.c.Jobs[name].Environment, "job "+name)
	}
	k.eachStep(func(s *Step, where string) {
		check(s.Environment, "a step in "+where)
	})
}

// mage checks every mage command line of every job, and what the jobs call.
func (k *checker) mage(ctx context.Context, targets Targets) error {
	for _, name := range slices.Sorted(maps.Keys(k.c.Jobs)) {
		j := k.c.Jobs[name]
		called := map[string]bool{} // by steps that run when the job is going well
		for _, run := range k.c.MageRuns(name) {
			inv, err := ParseInvocation(ctx, run.Args, targets)
			var unknown *UnknownTargetError
			var arguments *ArgumentsError
			switch {
			case errors.As(err, &unknown), errors.As(err, &arguments):
				k.add(run.Step.Line, "job %s runs %q: %s", name, strings.Join(run.Args, " "), err)
			case err != nil:
				return err
			}
			for _, call := range inv.Targets { // those read before any error
				if run.Step.When != "on_fail" {
					called[strings.ToLower(call.Target)] = true
				}
			}
		}
		k.jobNeeds(j, called)
	}
	return nil
}

// jobNeeds checks what the targets job j calls need from the job.
func (k *checker) jobNeeds(j *Job, called map[string]bool) {
	calls := func(targets []string) string {
		for _, t := range targets {
			if called[strings.ToLower(t)] {
				return t
			}
		}
		return ""
	}
	var missing []string
	for _, t := range k.rules.Targets[j.Name] {
		if !called[strings.ToLower(t)] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		k.add(j.Line, "job %s must call mage %s (go tool mage %s)", j.Name, quoteList(missing), strings.Join(k.rules.Targets[j.Name], " "))
	}
	exec := k.executor(j)
	if t := calls(k.rules.LocalDockerTargets); t != "" && (exec == nil || exec.Machine == "") {
		k.add(j.Line, "job %s calls mage %s, whose tests need a Docker engine on the job's own host: use a machine executor (remote Docker cannot reach the registry and containers the tests publish on loopback)", j.Name, t)
	} else if t := calls(k.rules.DockerTargets); t != "" && (exec == nil || exec.Machine == "") &&
		!k.c.anyStep(j.Steps, func(s *Step) bool { return s.Type == "setup_remote_docker" }) {
		k.add(j.Line, "job %s calls mage %s, which needs a Docker engine: add a setup_remote_docker step", j.Name, t)
	}
	if t := calls(k.rules.ResultsTargets); t != "" {
		dir, ok := j.Env(settings.TestResultsDir.Name)
		if !ok || dir == "" {
			k.add(j.Line, "job %s calls mage %s but does not set %s in its environment: the results would not be kept", j.Name, t, settings.TestResultsDir.Name)
		} else if !k.c.anyStep(j.Steps, func(s *Step) bool {
			return s.Type == "store_test_results" && filepath.Clean(s.Path) == filepath.Clean(dir)
		}) {
			k.add(j.Line, "job %s writes test results to %s but has no store_test_results step with path: %s", j.Name, dir, dir)
		}
	}
}

// executor returns the executor job j runs in, or nil when it is unknown.
func (k *checker) executor(j *Job) *Executor {
	if j.Inline != nil {
		return j.Inline
	}
	return k.c.Executors[j.Executor]
}

func requirementNames(rs []Requirement) []string {
	var names []string
	for _, r := range rs {
		names = append(names, r.Job)
	}
	return names
}

// Memo returns Targets that asks targets each question once and remembers
// the answer: every question to mage is a child process. It is not safe for
// concurrent use.
func Memo(targets Targets) Targets {
	return &memo{targets: targets, usage: map[string]Usage{}}
}

type memo struct {
	targets Targets
	names   []string
	usage   map[string]Usage
}

func (m *memo) List(ctx context.Context) ([]string, error) {
	if m.names == nil {
		names, err := m.targets.List(ctx)
		if err != nil {
			return nil, err
		}
		m.names = names
	}
	return m.names, nil
}

func (m *memo) Usage(ctx context.Context, target string) (Usage, error) {
	if u, ok := m.usage[target]; ok {
		return u, nil
	}
	u, err := m.targets.Usage(ctx, target)
	if err == nil {
		m.usage[target] = u
	}
	return u, err
}
