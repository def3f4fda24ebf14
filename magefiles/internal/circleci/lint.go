// Package circleci checks the project's CircleCI configuration,
// .circleci/config.yml, without CircleCI (`circleci config validate` needs
// an account and the network).
//
// Lint checks the config against CircleCI's published JSON schema, then
// against the few rules a schema cannot express:
//
//   - every job a workflow runs or requires is defined;
//   - every `go tool mage` command of a run step names targets mage has;
//   - the delivery workflow chains test-and-lint → build-and-push → deploy,
//     each job requiring the one before it; the first runs on every branch,
//     the other two only on the main line (main or master).
//
// Load and Config.Pipeline read which mage commands each job of that
// workflow runs, for the pipeline's end-to-end test.
package circleci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// chain lists the jobs of the delivery workflow in the order they run.
var chain = []string{"test-and-lint", "build-and-push", "deploy"}

// mainLine are the branches that build-and-push and deploy may run on.
var mainLine = []string{"main", "master"}

// Lint checks dir/.circleci/config.yml. schema is the path of CircleCI's
// schema (CIRCLECI_SCHEMA; relative to dir unless absolute); "" means the
// pinned schema, downloaded once into the user's cache directory. When it
// cannot be downloaded, Lint writes one notice to out and checks the rules
// alone. Mage is asked for its targets once, through r, in dir.
//
// The error lists every problem found, one per line: file:line: message.
func Lint(ctx context.Context, dir, schema string, r *runner.Runner, out io.Writer) error {
	c, err := Load(dir)
	if err != nil {
		return err
	}
	s, err := loadSchema(ctx, dir, schema, out)
	if err != nil {
		return err
	}
	return c.check(ctx, s, func(ctx context.Context) ([]string, error) { return listTargets(ctx, r, dir) })
}

// A problem is one thing wrong with the config, on a line of it.
type problem struct {
	line int
	msg  string
}

// A checker collects the problems of a config.
type checker struct {
	*Config
	problems []problem
}

// add adds a problem with the value at path.
func (k *checker) add(path []string, format string, args ...any) {
	k.problems = append(k.problems, problem{line: k.line(path), msg: fmt.Sprintf(format, args...)})
}

// check checks c against schema s (nil: not checked) and the rules.
// targets returns the names of mage's targets; it is called once, and only
// if a run step calls mage.
func (c *Config) check(ctx context.Context, s *jsonschema.Schema, targets func(context.Context) ([]string, error)) error {
	k := &checker{Config: c}
	if s != nil {
		k.validate(s)
	}
	k.references()
	k.chained()
	if err := k.mageTargets(ctx, targets); err != nil || len(k.problems) == 0 {
		return err
	}
	slices.SortStableFunc(k.problems, func(a, b problem) int { return a.line - b.line })
	lines := make([]string, len(k.problems))
	for i, p := range k.problems {
		lines[i] = fmt.Sprintf("%s:%d: %s", c.file, p.line, p.msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// references checks that every job a workflow runs or requires exists.
func (k *checker) references() {
	jobs := mapOf(k.doc["jobs"])
	for _, wf := range slices.Sorted(maps.Keys(mapOf(k.doc["workflows"]))) {
		wjobs := k.workflowJobs(wf)
		for name, wj := range wjobs {
			orb, _, fromOrb := strings.Cut(wj.job, "/")
			if _, ok := jobs[wj.job]; !ok && (!fromOrb || get(k.doc["orbs"], orb) == nil) {
				k.add(wj.path, "workflow %s runs job %s, which is neither in jobs: (%s) nor from an orb in orbs:",
					wf, wj.job, strings.Join(slices.Sorted(maps.Keys(jobs)), ", "))
			}
			for _, r := range wj.requires {
				if _, ok := wjobs[r.job]; !ok {
					k.add(r.path, "in workflow %s, %s requires %s, which is not a job of this workflow", wf, name, r.job)
				}
			}
		}
	}
}

// chained checks the delivery workflow: each job of the chain requires the
// one before it to succeed; the first runs on every branch, the others on
// the main line only.
func (k *checker) chained() {
	pipeline := strings.Join(chain, " → ")
	wf := k.chainWorkflow()
	if wf == "" {
		k.add([]string{"workflows"}, "no workflow runs %s: the pipeline is %s", chain[0], pipeline)
		return
	}
	for i, name := range chain {
		wj, ok := k.workflowJobs(wf)[name]
		filters, filtered := wj.conf["filters"]
		at := wj.path
		if filtered {
			at = append(slices.Clip(at), "filters")
		}
		switch {
		case !ok:
			k.add([]string{"workflows", wf}, "workflow %s does not run %s: the pipeline is %s", wf, name, pipeline)
		case i == 0:
			if _, expression := filters.(string); expression || get(filters, "branches") != nil {
				k.add(at, "%s has a branch filter: it must run on every branch, to test every push", name)
			}
		default:
			if !slices.ContainsFunc(wj.requires, func(r requirement) bool { return r.job == chain[i-1] }) {
				k.add(wj.path, "%s must require %s: the pipeline is %s", name, chain[i-1], pipeline)
			}
			if !onMainLine(filters) {
				k.add(at, "%s must run only on the main line: give it filters: branches: only: [%s], and no other filter",
					name, strings.Join(mainLine, ", "))
			}
		}
	}
}

// onMainLine reports whether filters keep a job on the main line: they
// are `branches: only:` with main, master or both, and nothing else.
func onMainLine(filters any) bool {
	branches := get(filters, "branches")
	only := strs(get(branches, "only"))
	return len(mapOf(filters)) == 1 && len(mapOf(branches)) == 1 && len(only) > 0 &&
		!slices.ContainsFunc(only, func(b string) bool { return !slices.Contains(mainLine, b) })
}

// mageTargets checks that every mage command of every run step names
// targets mage has (ignoring case, as mage does).
func (k *checker) mageTargets(ctx context.Context, targets func(context.Context) ([]string, error)) error {
	var known []string
	var err error
	walkRuns(k.doc, nil, func(command, _ string, path []string) {
		for _, args := range mageCommands(command) {
			for _, name := range targetNames(args) {
				if known == nil && err == nil {
					known, err = targets(ctx)
				}
				if err == nil && !slices.ContainsFunc(known, func(t string) bool { return strings.EqualFold(t, name) }) {
					k.add(path, "%q: mage has no target %s (go tool mage -l lists %s)",
						"go tool mage "+strings.Join(args, " "), name, strings.Join(known, ", "))
				}
			}
		}
	})
	return err
}

// parameter matches a CircleCI parameter, << parameters.stage >>, which
// CircleCI replaces before the shell runs.
var parameter = regexp.MustCompile(`<<[^<>]*>>`)

// mageCommands returns the words after `go tool mage` of each mage command
// in a run step's command. It is no shell: it splits the command on
// newlines, &&, ;, | and spaces, skips comment lines, keeps a CircleCI
// parameter as one word, and does not read quotes.
func mageCommands(command string) [][]string {
	command = parameter.ReplaceAllStringFunc(command, func(p string) string { return strings.Join(strings.Fields(p), "") })
	command = strings.NewReplacer("\\\n", " ", "&&", "\n", ";", "\n", "|", "\n").Replace(command)
	var out [][]string
	for _, line := range strings.Split(command, "\n") {
		words := strings.Fields(line)
		if len(words) > 0 && strings.HasPrefix(words[0], "#") {
			continue // a comment
		}
		for i := 0; i+2 < len(words); i++ {
			if words[i] == "go" && words[i+1] == "tool" && words[i+2] == "mage" {
				out = append(out, words[i+3:])
				break
			}
		}
	}
	return out
}

// mageValueFlags are mage's own flags that take the next word as their
// value: -t 5m, -d magefiles...
var mageValueFlags = map[string]bool{"t": true, "d": true, "w": true, "gocmd": true, "goos": true, "goarch": true, "ldflags": true}

// targetNames returns the targets among the words after `go tool mage`:
// all but flags (-v, -stage=push: mage's before the first target, the
// target's after it), the value of a mage flag that takes one (-t 5m), and
// CircleCI parameters, which may name anything.
func targetNames(args []string) []string {
	var names []string
	for i := 0; i < len(args); i++ {
		switch w := args[i]; {
		case strings.HasPrefix(w, "-") && len(names) == 0 && mageValueFlags[strings.TrimLeft(w, "-")]:
			i++
		case !strings.HasPrefix(w, "-") && !parameter.MatchString(w):
			names = append(names, w)
		}
	}
	return names
}

// listTargets returns the targets that `go tool mage -l`, run in dir, lists
// (lint, runLocal, heroku:create): the names indented under "Targets:",
// the default one marked with a *.
func listTargets(ctx context.Context, r *runner.Runner, dir string) ([]string, error) {
	out, err := r.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "mage", "-l"}, Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("listing the mage targets (go tool mage -l): %w", err)
	}
	_, listed, ok := strings.Cut(out, "Targets:\n")
	if !ok {
		return nil, errors.New(`go tool mage -l printed no "Targets:" list`)
	}
	names := []string{}
	for _, line := range strings.Split(listed, "\n") {
		fields := strings.Fields(line)
		if !strings.HasPrefix(line, "  ") || len(fields) == 0 {
			break // the blank line after the list
		}
		names = append(names, strings.TrimSuffix(fields[0], "*"))
	}
	return names, nil
}
