package circleci

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Path is where the config lives, relative to the repository root.
const Path = ".circleci/config.yml"

// A Config is a parsed .circleci/config.yml.
type Config struct {
	file string         // its path, for messages
	root *yaml.Node     // the YAML as written, for the line of each problem
	doc  map[string]any // the same as JSON values, anchors resolved: what the checks read
}

// Load reads and parses dir/.circleci/config.yml.
func Load(dir string) (*Config, error) {
	file := filepath.Join(dir, Path)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CircleCI config: %w", err)
	}
	c := &Config{file: file, root: &yaml.Node{}}
	if err := yaml.Unmarshal(data, c.root); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", file, err)
	}
	var v any
	if err := c.root.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if c.doc = mapOf(jsonValue(v)); c.doc == nil {
		return nil, fmt.Errorf("%s: a CircleCI config is a YAML mapping (version:, jobs:, workflows:...)", file)
	}
	return c, nil
}

// jsonValue turns what YAML decoded into what encoding/json would give,
// which the schema validates: mapping keys and dates become strings.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}

// line returns the line of the value at path (JSON pointer segments): of
// its key in a mapping, of the item in a list. Where the path leaves the
// YAML as written (through an alias or a merge), it is the last line found.
func (c *Config) line(path []string) int {
	n := c.root.Content[0] // the document's mapping
	line := n.Line
	for _, seg := range path {
		var next *yaml.Node
		for i, child := range n.Content {
			switch {
			case n.Kind == yaml.MappingNode && i%2 == 0 && child.Value == seg:
				line, next = child.Line, n.Content[i+1]
			case n.Kind == yaml.SequenceNode && strconv.Itoa(i) == seg:
				line, next = child.Line, child
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// A Job is one job of the delivery workflow, as the pipeline's end-to-end
// test runs it.
type Job struct {
	Name     string
	Requires []string          // the jobs it waits for
	Contexts []string          // the contexts whose variables it gets
	Env      map[string]string // the job's environment:
	Mage     [][]string        // the words after `go tool mage` of each mage command its run steps run, in order
	OnFail   [][]string        // the same for the run steps that run only when the job fails (when: on_fail)
}

// Pipeline returns the jobs of the delivery workflow in the order they run:
// test-and-lint, build-and-push, deploy. It reads the jobs' own steps, in
// when and unless blocks too, not those of the commands (commands:) they
// invoke.
func (c *Config) Pipeline() ([]Job, error) {
	wf := c.chainWorkflow()
	jobs := make([]Job, len(chain))
	for i, name := range chain {
		wj, ok := c.workflowJobs(wf)[name]
		def := mapOf(get(c.doc["jobs"], wj.job))
		if !ok || def == nil {
			return nil, fmt.Errorf("%s: no workflow runs a job %s that jobs: defines", c.file, name)
		}
		jobs[i] = Job{Name: name, Contexts: strs(wj.conf["context"]), Env: map[string]string{}}
		for _, r := range wj.requires {
			jobs[i].Requires = append(jobs[i].Requires, r.job)
		}
		for k, v := range mapOf(def["environment"]) {
			jobs[i].Env[k] = fmt.Sprint(v)
		}
		walkRuns(def["steps"], nil, func(command, when string, _ []string) {
			if when == "on_fail" {
				jobs[i].OnFail = append(jobs[i].OnFail, mageCommands(command)...)
			} else {
				jobs[i].Mage = append(jobs[i].Mage, mageCommands(command)...)
			}
		})
	}
	return jobs, nil
}

// walkRuns calls fn for every run step in v, in the order written, with its
// command, its when (on_success, always, on_fail or "") and the path of the
// command.
func walkRuns(v any, path []string, fn func(command, when string, path []string)) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := append(slices.Clip(path), k)
			command, short := v[k].(string) // run: command, or run: {command:, when:...}
			switch {
			case k != "run":
				walkRuns(v[k], p, fn)
			case short:
				fn(command, "", p)
			default:
				command, _ = get(v[k], "command").(string)
				when, _ := get(v[k], "when").(string)
				fn(command, when, append(p, "command"))
			}
		}
	case []any:
		for i, e := range v {
			walkRuns(e, append(slices.Clip(path), strconv.Itoa(i)), fn)
		}
	}
}

// chainWorkflow returns the name of the delivery workflow: of those that
// run chain[0], the one that runs most of the chain; "" when none does.
func (c *Config) chainWorkflow() string {
	found, most := "", 0
	for _, wf := range slices.Sorted(maps.Keys(mapOf(c.doc["workflows"]))) {
		jobs, n := c.workflowJobs(wf), 0
		for _, name := range chain {
			if _, ok := jobs[name]; ok {
				n++
			}
		}
		if _, ok := jobs[chain[0]]; ok && n > most {
			found, most = wf, n
		}
	}
	return found
}

// A workflowJob is one entry of a workflow's jobs:.
type workflowJob struct {
	job      string         // the job it runs, from jobs: or an orb
	path     []string       // where it is in the config
	conf     map[string]any // requires:, context:, filters:...
	requires []requirement
}

// A requirement is one job of requires:, and where it is named.
type requirement struct {
	job  string
	path []string
}

// workflowJobs returns the jobs of workflow wf by their name in it (name:,
// or the job's).
func (c *Config) workflowJobs(wf string) map[string]workflowJob {
	out := map[string]workflowJob{}
	for i, item := range list(get(get(c.doc["workflows"], wf), "jobs")) {
		path := []string{"workflows", wf, "jobs", strconv.Itoa(i)}
		if job, ok := item.(string); ok {
			out[job] = workflowJob{job: job, path: path}
		}
		for job, conf := range mapOf(item) { // one entry: the job, then its settings
			wj := workflowJob{job: job, path: append(path, job), conf: mapOf(conf)}
			for k, r := range list(wj.conf["requires"]) {
				at := append(slices.Clip(wj.path), "requires", strconv.Itoa(k))
				for _, name := range strs(r) {
					wj.requires = append(wj.requires, requirement{job: name, path: at})
				}
				for name := range mapOf(r) { // - build: [success, failed]
					wj.requires = append(wj.requires, requirement{job: name, path: at})
				}
			}
			name, ok := wj.conf["name"].(string)
			if !ok {
				name = job
			}
			out[name] = wj
		}
	}
	return out
}

// The helpers below read JSON values leniently: a value of another type
// reads as empty, and the schema reports it.

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func get(v any, key string) any { return mapOf(v)[key] }

func list(v any) []any { l, _ := v.([]any); return l }

// strs reads a string or a list of strings.
func strs(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
