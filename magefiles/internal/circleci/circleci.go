// Package circleci checks .circleci/config.yml offline (`circleci config
// validate` needs an account and the network): against CircleCI's published
// JSON schema, then against the rules a schema cannot express. The jobs a
// workflow runs or requires exist; every `go tool mage` command of a run
// step names targets mage has; the delivery workflow chains test-and-lint →
// build-and-push → deploy, each job requiring the one before, the first on
// every branch, the others on the main line only (main or master).
package circleci

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Path is where the config lives, relative to the repository root.
const Path = ".circleci/config.yml"

var (
	chain    = []string{"test-and-lint", "build-and-push", "deploy"} // the delivery workflow's jobs, in order
	mainLine = []string{"main", "master"}                            // the branches all but the first may run on
)

// Lint checks dir/.circleci/config.yml against the schema file schema
// (CIRCLECI_SCHEMA) or, if "", the pinned one (skipped with one notice to out
// when it cannot be downloaded), then against the rules, asking mage for its
// targets through r. The error lists the problems: file:line: message.
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

// check checks c against schema s (when not nil) and the rules. targets
// lists mage's targets; it is called once, if a run step calls mage.
func (c *Config) check(ctx context.Context, s *jsonschema.Schema, targets func(context.Context) ([]string, error)) error {
	c.problems = map[int][]string{}
	var ve *jsonschema.ValidationError
	if s != nil && errors.As(s.Validate(c.doc), &ve) {
		printer := message.NewPrinter(language.English)
		for _, leaf := range leaves(ve) {
			at := "/" + strings.Join(leaf.InstanceLocation, "/")
			c.add(at, "schema: at %s: %s", at, leaf.ErrorKind.LocalizedString(printer))
		}
	}
	c.workflows()
	if err := c.mageTargets(ctx, targets); err != nil || len(c.problems) == 0 {
		return err
	}
	var lines []string
	for _, line := range slices.Sorted(maps.Keys(c.problems)) {
		for _, msg := range c.problems[line] {
			lines = append(lines, fmt.Sprintf("%s:%d: %s", c.file, line, msg))
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// add adds a problem on the line of the value at path, once.
func (c *Config) add(path, format string, args ...any) {
	line, msg := c.line(path), fmt.Sprintf(format, args...)
	if !slices.Contains(c.problems[line], msg) {
		c.problems[line] = append(c.problems[line], msg)
	}
}

// leaves returns the specific errors, at the bottom of e's tree. Of a failed
// oneOf or anyOf, it drops the alternatives of another type when one is left
// closer: "missing property 'steps'" says more than "got object, want string".
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var all, closer []*jsonschema.ValidationError
	for _, cause := range e.Causes {
		l := leaves(cause)
		all = append(all, l...)
		if _, wrongType := l[0].ErrorKind.(*kind.Type); len(l) > 1 || !wrongType {
			closer = append(closer, l...)
		}
	}
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		if len(closer) > 0 {
			return closer
		}
	}
	return all
}

// A Config is a parsed .circleci/config.yml.
type Config struct {
	file     string           // its path, for messages
	doc      map[string]any   // its JSON values, anchors resolved: what the checks read
	lines    map[string]int   // the line of each value as written, by JSON pointer
	runs     []run            // its run steps, as written
	problems map[int][]string // what check found, by line
}

// A run is a run step: its command, its when, and where the command is.
type run struct{ Command, When, path string }

// Load reads and parses dir/.circleci/config.yml.
func Load(dir string) (*Config, error) {
	file := filepath.Join(dir, Path)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CircleCI config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s is not valid YAML: %w", file, err)
	}
	c := &Config{file: file, lines: map[string]int{}}
	c.index(&root, "", root.Line)
	if err := root.Decode(&c.doc); err != nil || c.doc == nil {
		return nil, fmt.Errorf("%s: a CircleCI config is a YAML mapping (version:, jobs:, workflows:...)", file)
	}
	return c, nil
}

// index records the line of n, at path, and of the values below it (their
// key's in a mapping) and its run steps. It tags keys and dates as strings,
// so that, decoded, the YAML is what JSON would be.
func (c *Config) index(n *yaml.Node, path string, line int) {
	c.lines[path] = line
	if r := (run{path: path}); strings.HasSuffix(path, "/run") {
		if n.Decode(&r.Command) != nil { // run: {command:, when:...}
			_ = n.Decode(&r)
			r.path += "/command"
		}
		c.runs = append(c.runs, r)
	}
	for i, child := range n.Content {
		if child.Tag == "!!timestamp" || n.Kind == yaml.MappingNode && i%2 == 0 && child.Tag != "!!merge" {
			child.Tag = "!!str"
		}
		switch {
		case n.Kind == yaml.SequenceNode:
			c.index(child, path+"/"+strconv.Itoa(i), child.Line)
		case n.Kind == yaml.MappingNode && i%2 == 1:
			c.index(child, path+"/"+n.Content[i-1].Value, n.Content[i-1].Line)
		case n.Kind == yaml.DocumentNode:
			c.index(child, path, child.Line)
		}
	}
}

// line returns the line of the value at path or, where the path leaves the
// YAML as written (through an alias or a merge), of the value above.
func (c *Config) line(path string) int {
	for path != "" && c.lines[path] == 0 {
		path = path[:strings.LastIndex(path, "/")]
	}
	return c.lines[path]
}

// A workflowJob is one entry of a workflow's jobs:.
type workflowJob struct {
	job      string            // the job it runs
	path     string            // where it is in the config
	conf     map[string]any    // requires:, context:, filters:...
	requires map[string]string // the jobs it requires, and where each is named
}

// workflowJobs returns the jobs of workflow wf by their name in it.
func (c *Config) workflowJobs(wf string) map[string]workflowJob {
	out := map[string]workflowJob{}
	for i, item := range list(get(get(c.doc["workflows"], wf), "jobs")) {
		entry := mapOf(item) // the job, mapped to its settings
		if job, ok := item.(string); ok {
			entry = map[string]any{job: nil}
		}
		for job, conf := range entry {
			wj := workflowJob{job, fmt.Sprintf("/workflows/%s/jobs/%d/%s", wf, i, job), mapOf(conf), map[string]string{}}
			for k, r := range list(wj.conf["requires"]) { // - build, or - build: [success, failed]
				for _, name := range append(strs(r), slices.Collect(maps.Keys(mapOf(r)))...) {
					wj.requires[name] = wj.path + "/requires/" + strconv.Itoa(k)
				}
			}
			name, _ := wj.conf["name"].(string)
			out[cmp.Or(name, job)] = wj
		}
	}
	return out
}

// delivery returns the delivery workflow and its jobs: of the workflows
// that run chain[0], the one that runs most of the chain; "" if none.
func (c *Config) delivery() (string, map[string]workflowJob) {
	found, most := "", 0
	for _, wf := range slices.Sorted(maps.Keys(mapOf(c.doc["workflows"]))) {
		jobs := c.workflowJobs(wf)
		n := len(slices.DeleteFunc(slices.Clone(chain), func(name string) bool { return jobs[name].job == "" }))
		if _, ok := jobs[chain[0]]; ok && n > most {
			found, most = wf, n
		}
	}
	return found, c.workflowJobs(found)
}

// mapOf, get, list and strs read JSON values leniently: a value of another
// type reads as empty (the schema reports it).
func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
func get(v any, key string) any  { return mapOf(v)[key] }
func list(v any) []any           { l, _ := v.([]any); return l }

// strs reads a string or a list of strings.
func strs(v any) []string {
	var out []string
	for _, e := range append([]any{v}, list(v)...) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// workflows checks that the jobs each workflow runs and requires exist, and
// the chain of the delivery workflow.
func (c *Config) workflows() {
	jobs := mapOf(c.doc["jobs"])
	for _, wf := range slices.Sorted(maps.Keys(mapOf(c.doc["workflows"]))) {
		wjobs := c.workflowJobs(wf)
		for _, name := range slices.Sorted(maps.Keys(wjobs)) {
			job := wjobs[name].job
			if orb, _, fromOrb := strings.Cut(job, "/"); jobs[job] == nil && (!fromOrb || get(c.doc["orbs"], orb) == nil) {
				c.add(wjobs[name].path, "workflow %s runs job %s, which is neither in jobs: (%s) nor from an orb in orbs:",
					wf, job, strings.Join(slices.Sorted(maps.Keys(jobs)), ", "))
			}
			for _, r := range slices.Sorted(maps.Keys(wjobs[name].requires)) {
				if _, ok := wjobs[r]; !ok {
					c.add(wjobs[name].requires[r], "in workflow %s, %s requires %s, which is not a job of this workflow", wf, name, r)
				}
			}
		}
	}
	pipeline := strings.Join(chain, " → ")
	wf, wjobs := c.delivery()
	if wf == "" {
		c.add("/workflows", "no workflow runs %s: the pipeline is %s", chain[0], pipeline)
		return
	}
	for i, name := range chain {
		wj, ok := wjobs[name]
		filters, branches := wj.conf["filters"], get(wj.conf["filters"], "branches")
		only := strs(get(branches, "only"))
		switch {
		case !ok:
			c.add("/workflows/"+wf, "workflow %s does not run %s: the pipeline is %s", wf, name, pipeline)
		case i == 0:
			if _, expression := filters.(string); expression || branches != nil {
				c.add(wj.path+"/filters", "%s has a branch filter: it must run on every branch, to test every push", name)
			}
		default:
			if _, ok := wj.requires[chain[i-1]]; !ok {
				c.add(wj.path, "%s must require %s: the pipeline is %s", name, chain[i-1], pipeline)
			}
			if len(mapOf(filters)) != 1 || len(mapOf(branches)) != 1 || len(only) == 0 ||
				slices.ContainsFunc(only, func(b string) bool { return !slices.Contains(mainLine, b) }) {
				c.add(wj.path+"/filters", "%s must run only on the main line: give it filters: branches: only: [%s], and no other filter",
					name, strings.Join(mainLine, ", "))
			}
		}
	}
}

// mageTargets checks that the run steps' mage commands name targets mage
// has (ignoring case, as mage does).
func (c *Config) mageTargets(ctx context.Context, targets func(context.Context) ([]string, error)) error {
	known := sync.OnceValues(func() ([]string, error) { return targets(ctx) })
	for _, r := range c.runs {
		for _, args := range mageCommands(r.Command) {
			for _, name := range targetNames(args) {
				names, err := known()
				if err != nil {
					return err
				}
				if !slices.ContainsFunc(names, func(t string) bool { return strings.EqualFold(t, name) }) {
					c.add(r.path, "%q: mage has no target %s (go tool mage -l lists %s)",
						"go tool mage "+strings.Join(args, " "), name, strings.Join(names, ", "))
				}
			}
		}
	}
	return nil
}

// mageCommands returns the words after `go tool mage` of each mage command in
// command. No shell, it splits on newlines, &&, ;, |, spaces, skips comments.
func mageCommands(command string) [][]string {
	var out [][]string
	for _, line := range strings.Split(strings.NewReplacer("\\\n", " ", "&&", "\n", ";", "\n", "|", "\n").Replace(command), "\n") {
		line = " " + strings.Join(strings.Fields(line), " ") + " "
		if _, args, ok := strings.Cut(line, " go tool mage "); ok && !strings.HasPrefix(line, " #") {
			out = append(out, strings.Fields(args))
		}
	}
	return out
}

// targetNames returns the targets among the words after `go tool mage`: all
// but flags, mage's and the targets' (a flag's value is one word: -t=5m).
func targetNames(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(w string) bool { return strings.HasPrefix(w, "-") })
}

// listTargets returns the targets `go tool mage -l`, run in dir, lists: the
// names indented under "Targets:" (the default one marked with a *).
func listTargets(ctx context.Context, r *runner.Runner, dir string) ([]string, error) {
	out, err := r.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "mage", "-l"}, Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("listing the mage targets (go tool mage -l): %w", err)
	}
	_, listed, _ := strings.Cut(out, "Targets:\n")
	var names []string
	for line := range strings.Lines(listed) {
		if fields := strings.Fields(line); strings.HasPrefix(line, "  ") && len(fields) > 0 {
			names = append(names, strings.TrimSuffix(fields[0], "*"))
		}
	}
	return names, nil
}

// pinned is the schema Lint uses unless CIRCLECI_SCHEMA names another, that of
// release v0.37.0 of CircleCI's YAML language server, and its SHA-256.
var pinned = struct{ url, sha256 string }{
	url:    "https://raw.githubusercontent.com/CircleCI-Public/circleci-yaml-language-server/v0.37.0/schema.json",
	sha256: "943887ba97ed0047f4170e83d3e5bf045ae12d824f6da56ca50c2224a7fbb458",
}

var (
	userCacheDir    = os.UserCacheDir // where the pinned schema is cached, under oc-lettings/
	downloadTimeout = 5 * time.Second // how long its download may take
)

// loadSchema compiles the schema at path (relative to dir), used as it is, or
// if "", the pinned one; nil when that cannot be downloaded.
func loadSchema(ctx context.Context, dir, path string, out io.Writer) (*jsonschema.Schema, error) {
	data, err := []byte(nil), error(nil)
	switch {
	case path == "":
		path = pinned.url
		if data, err = pinnedSchema(ctx, out); data == nil || err != nil {
			return nil, err
		}
	case !filepath.IsAbs(path):
		path = filepath.Join(dir, path)
		fallthrough
	default:
		if data, err = os.ReadFile(path); err != nil { //nolint:gosec // G703: the user names this file, to be read
			return nil, fmt.Errorf("reading the CircleCI schema CIRCLECI_SCHEMA names: %w; correct it, or unset it to use the pinned schema", err)
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the CircleCI schema %s is not JSON: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // none: a $ref out of the schema is an error, never a download
	_ = c.AddResource(path, doc)              // when it cannot be, Compile says why
	s, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("compiling the CircleCI schema %s: %w", path, err)
	}
	return s, nil
}

// pinnedSchema returns the pinned schema, cached or downloaded into the cache
// and checked against its SHA-256; nil, after one notice to out, offline.
func pinnedSchema(ctx context.Context, out io.Writer) ([]byte, error) {
	cache, err := userCacheDir()
	if err != nil {
		return nil, fmt.Errorf("finding where to cache the CircleCI schema: %w; set CIRCLECI_SCHEMA to a local copy instead", err)
	}
	file := cacheFile(cache)
	if data, err := os.ReadFile(file); err == nil {
		return data, checkSum(data, "the cached CircleCI schema "+file, "delete it, and the next run downloads it again")
	}
	dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(dctx, http.MethodGet, pinned.url, nil) // a valid URL
	resp, err := http.DefaultClient.Do(req)
	var data []byte
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		if data, err = io.ReadAll(io.LimitReader(resp.Body, 10<<20)); resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s answered %s", pinned.url, resp.Status)
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case err != nil:
		fmt.Fprintf(out, "cannot download the CircleCI schema: %v: CircleCI schema check skipped; set CIRCLECI_SCHEMA to a local copy of %s to check against it offline\n", err, pinned.url)
		return nil, nil
	}
	if err := checkSum(data, "the CircleCI schema downloaded from "+pinned.url, "is a proxy changing it? Else set CIRCLECI_SCHEMA to a local copy"); err != nil {
		return nil, err
	}
	// Written beside, then renamed: a concurrent run never reads half of it.
	if err = os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
		if err = os.WriteFile(file+".download", data, 0o644); err == nil {
			err = os.Rename(file+".download", file)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("caching the CircleCI schema: %w", err)
	}
	return data, nil
}

// cacheFile returns where the pinned schema is kept in the cache directory.
func cacheFile(cache string) string {
	return filepath.Join(cache, "oc-lettings", "circleci-schema-"+pinned.sha256[:16]+".json")
}

// checkSum fails unless data has the pinned SHA-256, saying what it is and fix.
func checkSum(data []byte, what, fix string) error {
	if sum := fmt.Sprintf("%x", sha256.Sum256(data)); sum != pinned.sha256 {
		return fmt.Errorf("%s has SHA-256 %s, not the pinned %s, so it is not used: %s", what, sum, pinned.sha256, fix)
	}
	return nil
}
