// Package circleci checks the project's CircleCI configuration offline, as
// part of mage lint, because `circleci config validate` needs the network.
//
// Two checks run: the config against CircleCI's published JSON schema
// (Schema), and against the project's own rules, which a schema cannot
// express (Check): every job a workflow names is defined, every requires
// names a job of the same workflow, executors and commands exist, the jobs
// chain test-and-lint → build-and-push → deploy with only the first running
// on every branch, every mage target the config calls exists, and the Go
// image matches go.mod.
//
// The package also reads which mage commands each job runs (MageRuns), for
// the pipeline's end-to-end test.
package circleci

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Path is where the config lives, relative to the repository root.
const Path = ".circleci/config.yml"

// Config is a parsed CircleCI configuration: the parts the checks read, each
// with the line it starts on.
type Config struct {
	File      string               // the file's name, for messages
	Executors map[string]*Executor // executors:
	Commands  map[string]*Command  // commands:
	Jobs      map[string]*Job      // jobs:
	Orbs      map[string]bool      // orbs: the names declared
	Workflows []*Workflow          // workflows:, in file order

	root *yaml.Node // the document, for the line of a schema error
	data any        // the document as JSON values, for the schema
}

// An Executor says where a job runs: in Docker images or in a VM.
type Executor struct {
	Name    string  // empty for a job's inline executor
	Line    int     // where it starts
	Images  []Image // docker: images, the primary container first
	Machine string  // machine: image; "default" when machine: true
}

// An Image is a container image a docker executor names.
type Image struct {
	Ref  string // e.g. cimg/go:1.26
	Line int
}

// A Command is a reusable list of steps declared under commands:.
type Command struct {
	Name  string
	Line  int
	Steps []Step
}

// A Job is an entry of jobs:.
type Job struct {
	Name        string
	Line        int
	Executor    string    // executor: the name of a declared (or orb) executor
	Inline      *Executor // docker: or machine: given in the job itself
	Environment []Setting // environment:
	Steps       []Step
}

// A Setting is one environment variable a config sets.
type Setting struct {
	Name, Value string
	Line        int
}

// A Step is one entry of a job's or a command's steps.
type Step struct {
	// Type is the step's key: run, checkout, setup_remote_docker,
	// store_test_results... or the name of the command it invokes.
	Type        string
	Line        int
	Name        string    // run: name
	Command     string    // run: command
	When        string    // run: when (on_success when empty)
	Path        string    // store_test_results, store_artifacts: path
	Environment []Setting // run: environment
	Nested      []Step    // when, unless: the steps they guard
}

// A Workflow is an entry of workflows:.
type Workflow struct {
	Name        string
	Line        int
	Conditional bool // the workflow has a when or unless condition
	Jobs        []*WorkflowJob
}

// A WorkflowJob is one job a workflow runs.
type WorkflowJob struct {
	Job       string // the job it runs, from jobs: or an orb
	Name      string // its name in the workflow: name: when given, else Job
	Line      int
	Requires  []Requirement
	Context   []string
	Filters   *Filters // nil when it has none
	PreSteps  []Step
	PostSteps []Step
}

// A Requirement is one entry of requires: a job of the same workflow that
// must end in one of Statuses first.
type Requirement struct {
	Job      string
	Statuses []string // empty means success
	Line     int
}

// Filters restrict the branches or tags a workflow job runs for.
type Filters struct {
	Line       int
	Expression string  // filters written as an expression string
	Branches   *Filter // branches:
	Tags       *Filter // tags:
}

// A Filter is a list of names or /regular expressions/ to run for (Only) or
// not (Ignore).
type Filter struct {
	Only, Ignore []string
}

// Load reads and parses the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CircleCI config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a config; file names it in messages. Only a file that is not
// YAML, or not a mapping, is an error: everything else is for the checks to
// judge.
func Parse(file string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", file, err)
	}
	root := resolve(&doc)
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a CircleCI config is a YAML mapping (version:, jobs:, workflows:...)", file)
	}
	c := &Config{
		File:      file,
		Executors: map[string]*Executor{},
		Commands:  map[string]*Command{},
		Jobs:      map[string]*Job{},
		Orbs:      map[string]bool{},
		root:      root,
	}
	data2, err := jsonValue(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c.data = data2
	for _, p := range pairs(lookup(root, "orbs")) {
		c.Orbs[p.key] = true
	}
	for _, p := range pairs(lookup(root, "executors")) {
		e := parseExecutor(p.value)
		e.Name, e.Line = p.key, p.line
		c.Executors[p.key] = e
	}
	for _, p := range pairs(lookup(root, "commands")) {
		c.Commands[p.key] = &Command{Name: p.key, Line: p.line, Steps: parseSteps(lookup(p.value, "steps"))}
	}
	for _, p := range pairs(lookup(root, "jobs")) {
		c.Jobs[p.key] = parseJob(p.key, p.line, p.value)
	}
	for _, p := range pairs(lookup(root, "workflows")) {
		if p.key == "version" || resolve(p.value).Kind != yaml.MappingNode {
			continue // workflows: version: 2 is a 2.0 leftover
		}
		c.Workflows = append(c.Workflows, parseWorkflow(p.key, p.line, p.value))
	}
	return c, nil
}

// Workflow returns the workflow named name, or nil.
func (c *Config) Workflow(name string) *Workflow {
	for _, w := range c.Workflows {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// Job returns the workflow's job named name (its name in the workflow), or nil.
func (w *Workflow) Job(name string) *WorkflowJob {
	for _, j := range w.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Order returns the workflow's jobs in an order that runs every job after
// the jobs it requires, keeping the file's order otherwise. It fails when
// requires names a job the workflow does not have, or makes a cycle.
func (w *Workflow) Order() ([]*WorkflowJob, error) {
	done := map[string]bool{}
	var order []*WorkflowJob
	for len(order) < len(w.Jobs) {
		progress := false
		for _, j := range w.Jobs {
			if done[j.Name] {
				continue
			}
			ready := true
			for _, r := range j.Requires {
				if w.Job(r.Job) == nil {
					return nil, fmt.Errorf("workflow %s: %s requires %s, which is not a job of this workflow", w.Name, j.Name, r.Job)
				}
				ready = ready && done[r.Job]
			}
			if ready {
				done[j.Name] = true
				order = append(order, j)
				progress = true
			}
		}
		if !progress {
			return nil, fmt.Errorf("workflow %s: its requires make a cycle", w.Name)
		}
	}
	return order, nil
}

func parseExecutor(n *yaml.Node) *Executor {
	e := &Executor{Line: resolve(n).Line}
	for _, img := range items(lookup(n, "docker")) {
		if ref := lookup(img, "image"); scalar(ref) != "" {
			e.Images = append(e.Images, Image{Ref: ref.Value, Line: ref.Line})
		}
	}
	if m := lookup(n, "machine"); m != nil {
		switch m.Kind {
		case yaml.MappingNode:
			e.Machine = scalar(lookup(m, "image"))
		case yaml.ScalarNode:
			if m.Value == "true" {
				e.Machine = "default"
			}
		}
	}
	return e
}

func parseJob(name string, line int, n *yaml.Node) *Job {
	j := &Job{Name: name, Line: line, Environment: parseEnv(lookup(n, "environment"))}
	switch ex := lookup(n, "executor"); {
	case ex == nil:
	case ex.Kind == yaml.ScalarNode:
		j.Executor = ex.Value
	default:
		j.Executor = scalar(lookup(ex, "name"))
	}
	if lookup(n, "docker") != nil || lookup(n, "machine") != nil {
		j.Inline = parseExecutor(n)
	}
	j.Steps = parseSteps(lookup(n, "steps"))
	return j
}

func parseEnv(n *yaml.Node) []Setting {
	var env []Setting
	for _, p := range pairs(n) {
		env = append(env, Setting{Name: p.key, Value: scalar(p.value), Line: p.line})
	}
	return env
}

// Env returns the value the job's environment: gives name, and whether it does.
func (j *Job) Env(name string) (string, bool) {
	for _, s := range j.Environment {
		if s.Name == name {
			return s.Value, true
		}
	}
	return "", false
}

func parseSteps(n *yaml.Node) []Step {
	var steps []Step
	for _, item := range items(n) {
		steps = append(steps, parseStep(item))
	}
	return steps
}

func parseStep(n *yaml.Node) Step {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		return Step{Type: n.Value, Line: n.Line}
	}
	ps := pairs(n)
	if len(ps) == 0 {
		return Step{Line: n.Line}
	}
	p := ps[0]
	s := Step{Type: p.key, Line: p.line}
	v := resolve(p.value)
	switch p.key {
	case "run":
		if v.Kind == yaml.ScalarNode {
			s.Command = v.Value
			break
		}
		s.Command = scalar(lookup(v, "command"))
		s.Name = scalar(lookup(v, "name"))
		s.When = scalar(lookup(v, "when"))
		s.Environment = parseEnv(lookup(v, "environment"))
	case "store_test_results", "store_artifacts":
		s.Path = scalar(lookup(v, "path"))
	case "when", "unless":
		steps := lookup(v, "steps")
		if steps != nil && steps.Kind != yaml.SequenceNode {
			s.Nested = []Step{parseStep(steps)}
		} else {
			s.Nested = parseSteps(steps)
		}
	}
	return s
}

func parseWorkflow(name string, line int, n *yaml.Node) *Workflow {
	w := &Workflow{Name: name, Line: line}
	w.Conditional = lookup(n, "when") != nil || lookup(n, "unless") != nil
	for _, item := range items(lookup(n, "jobs")) {
		item = resolve(item)
		if item.Kind == yaml.ScalarNode {
			w.Jobs = append(w.Jobs, &WorkflowJob{Job: item.Value, Name: item.Value, Line: item.Line})
			continue
		}
		for _, p := range pairs(item) { // one entry: job name → its settings
			w.Jobs = append(w.Jobs, parseWorkflowJob(p.key, p.line, p.value))
		}
	}
	return w
}

func parseWorkflowJob(job string, line int, n *yaml.Node) *WorkflowJob {
	wj := &WorkflowJob{Job: job, Name: job, Line: line}
	if name := scalar(lookup(n, "name")); name != "" {
		wj.Name = name
	}
	for _, item := range items(lookup(n, "requires")) {
		item = resolve(item)
		if item.Kind == yaml.ScalarNode {
			wj.Requires = append(wj.Requires, Requirement{Job: item.Value, Line: item.Line})
			continue
		}
		for _, p := range pairs(item) { // - job: success, or - job: [success, failed]
			wj.Requires = append(wj.Requires, Requirement{Job: p.key, Statuses: strs(p.value), Line: p.line})
		}
	}
	wj.Context = strs(lookup(n, "context"))
	if f := lookup(n, "filters"); f != nil {
		wj.Filters = &Filters{Line: f.Line}
		if f.Kind == yaml.ScalarNode {
			wj.Filters.Expression = f.Value
		}
		if b := lookup(f, "branches"); b != nil {
			wj.Filters.Branches = &Filter{Only: strs(lookup(b, "only")), Ignore: strs(lookup(b, "ignore"))}
		}
		if t := lookup(f, "tags"); t != nil {
			wj.Filters.Tags = &Filter{Only: strs(lookup(t, "only")), Ignore: strs(lookup(t, "ignore"))}
		}
	}
	wj.PreSteps = parseSteps(lookup(n, "pre-steps"))
	wj.PostSteps = parseSteps(lookup(n, "post-steps"))
	return wj
}

// The YAML helpers below read a node tree leniently: a node of an unexpected
// kind reads as empty, and the schema check reports it.

type pair struct {
	key   string
	line  int
	value *yaml.Node
}

// resolve follows documents and aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) > 0:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

// pairs returns a mapping's entries, with merge keys (<<: *anchor) expanded
// the way YAML defines them: the mapping's own keys win.
func pairs(n *yaml.Node) []pair {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" || (k.Value == "<<" && k.Style == 0 && k.Kind == yaml.ScalarNode) {
			sources := []*yaml.Node{v}
			if rv := resolve(v); rv != nil && rv.Kind == yaml.SequenceNode {
				sources = rv.Content
			}
			for _, src := range sources {
				merged = append(merged, pairs(src)...)
			}
			continue
		}
		own = append(own, pair{key: k.Value, line: k.Line, value: v})
		seen[k.Value] = true
	}
	for _, p := range merged {
		if !seen[p.key] {
			own = append(own, p)
			seen[p.key] = true
		}
	}
	return own
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(n) {
		if p.key == key {
			return resolve(p.value)
		}
	}
	return nil
}

// items returns a sequence's elements.
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// scalar returns a scalar's text, or "" for anything else.
func scalar(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// strs reads a string or a list of strings.
func strs(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, item := range items(n) {
		if s := scalar(item); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// jsonValue converts a node tree to the values encoding/json would give for
// the same document, which is what the schema validates.
func jsonValue(n *yaml.Node) (any, error) {
	return jsonValueDepth(n, 0)
}

func jsonValueDepth(n *yaml.Node, depth int) (any, error) {
	if depth > 100 {
		return nil, errors.New("the YAML nests more than 100 levels deep (an alias cycle?)")
	}
	n = resolve(n)
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range pairs(n) {
			v, err := jsonValueDepth(p.value, depth+1)
			if err != nil {
				return nil, err
			}
			m[p.key] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := jsonValueDepth(item, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if _, ok := v.(time.Time); ok {
			return n.Value, nil // a date-like string: JSON has no dates
		}
		return v, nil
	}
}

// lineOf returns the line of the value at the JSON pointer segments path, or
// of its nearest ancestor found.
func lineOf(root *yaml.Node, path []string) int {
	n := resolve(root)
	line := n.Line
	for _, seg := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for _, p := range pairs(n) {
				if p.key == seg {
					next, line = resolve(p.value), p.line
					break
				}
			}
		case yaml.SequenceNode:
			var i int
			if _, err := fmt.Sscan(seg, &i); err == nil && i >= 0 && i < len(n.Content) {
				next = resolve(n.Content[i])
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// quoteList renders names for a message: a, b and c.
func quoteList(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
