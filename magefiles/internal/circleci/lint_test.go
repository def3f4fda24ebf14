package circleci

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// publishedURL is where CircleCI publishes the pinned schema.
var publishedURL = pinned.url

// TestMain keeps every test off the internet: the pinned schema's URL
// points at a loopback server that answers 503, and the cache is a
// temporary directory. Tests that download point pinned at their own server.
func TestMain(m *testing.M) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no internet in tests", http.StatusServiceUnavailable)
	}))
	cache, err := os.MkdirTemp("", "circleci-cache-")
	if err != nil {
		panic(err)
	}
	pinned.url = srv.URL + "/schema.json"
	userCacheDir = func() (string, error) { return cache, nil }
	code := m.Run()
	srv.Close()
	_ = os.RemoveAll(cache)
	os.Exit(code)
}

// projectTargets are the targets go tool mage -l lists for the project.
var projectTargets = []string{"bench", "build", "deploy", "doctor", "heroku:create", "lint", "push", "run", "runLocal", "test"}

func readFixture(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/pipeline.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// mutate replaces old, which must occur exactly once, by new.
func mutate(t *testing.T, config, old, new string) string {
	t.Helper()
	if n := strings.Count(config, old); n != 1 {
		t.Fatalf("the fixture has %d occurrences of %q, want 1: update the test", n, old)
	}
	return strings.Replace(config, old, new, 1)
}

// lineOf returns the line on which text first starts in config.
func lineOf(t *testing.T, config, text string) int {
	t.Helper()
	i := strings.Index(config, text)
	if i < 0 {
		t.Fatalf("%q is not in the config", text)
	}
	return strings.Count(config[:i], "\n") + 1
}

// load writes config as the .circleci/config.yml of a new directory and
// loads it.
func load(t *testing.T, config string) *Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".circleci"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Path), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRules checks config against the rules (not the schema), with mage
// listing projectTargets, and returns the error's text.
func checkRules(t *testing.T, config string) string {
	t.Helper()
	asked := 0
	err := load(t, config).check(context.Background(), nil, func(context.Context) ([]string, error) {
		asked++
		return projectTargets, nil
	})
	if asked > 1 {
		t.Errorf("mage was asked for its targets %d times, want at most once", asked)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTheFixtureFollowsTheRules(t *testing.T) {
	if got := checkRules(t, readFixture(t)); got != "" {
		t.Errorf("the valid fixture has problems:\n%s", got)
	}
}

// TestTheRulesAllow changes the fixture in ways the rules accept.
func TestTheRulesAllow(t *testing.T) {
	deployFilter := "sentry]\n          filters:\n            branches:\n              only: [main, master]"
	buildFilter := "[dockerhub]\n          filters:\n            branches:\n              only: [main, master]"
	tests := []struct{ name, old, new string }{
		{"main alone", deployFilter, "sentry]\n          filters:\n            branches:\n              only: main"},
		{"master alone", buildFilter, "[dockerhub]\n          filters:\n            branches:\n              only: master"},
		{"master and main", buildFilter, "[dockerhub]\n          filters:\n            branches:\n              only: [master, main]"},
		{
			"an orb's job, the orb declared", "workflows:\n  pipeline:\n    jobs:\n      - test-and-lint\n",
			"orbs:\n  slack: circleci/slack@4.12.5\nworkflows:\n  pipeline:\n    jobs:\n      - test-and-lint\n      - slack/notify\n",
		},
		{"mage flags and a target's flags", "go tool mage build push", "go tool mage -v -t=5m build push -x"},
		{"mage's -d and -w with their values", "go tool mage build push", "go tool mage -d=magefiles -w=. build push"},
		{"a target in other case", "go tool mage build push", "go tool mage Build runlocal heroku:create"},
		{"a comment and a continued line", "            go tool mage deploy\n", "            # go tool mage is called below\n            go tool mage \\\n              deploy\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := mutate(t, readFixture(t), tt.old, tt.new)
			if got := checkRules(t, config); got != "" {
				t.Errorf("problems:\n%s", got)
			}
		})
	}
}

// TestTheRulesCatch breaks the fixture one way at a time and expects the
// problem reported on the right line.
func TestTheRulesCatch(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           string // the problem's message
		at             string // text that starts on its line, in the broken config
	}{
		{
			name: "a workflow runs a job that is not defined",
			old:  "  deploy:\n    executor: go", new: "  deploy-to-heroku:\n    executor: go",
			want: "workflow pipeline runs job deploy, which is neither in jobs: (build-and-push, deploy-to-heroku, test-and-lint) nor from an orb in orbs:",
			at:   "      - deploy:",
		},
		{
			name: "a workflow runs a job of an orb that is not declared",
			old:  "      - test-and-lint\n", new: "      - test-and-lint\n      - slack/notify\n",
			want: "workflow pipeline runs job slack/notify, which is neither in jobs:", at: "      - slack/notify",
		},
		{
			name: "requires names a job that is not in the workflow",
			old:  "requires: [test-and-lint]", new: "requires: [test-and-lnit]",
			want: "in workflow pipeline, build-and-push requires test-and-lnit, which is not a job of this workflow", at: "requires: [test-and-lnit]",
		},
		{
			name: "requires names a job of another workflow",
			old:  "  pipeline:\n", new: "  nightly:\n    jobs:\n      - deploy:\n          requires:\n            - test-and-lint: success\n  pipeline:\n",
			want: "in workflow nightly, deploy requires test-and-lint, which is not a job of this workflow", at: "            - test-and-lint: success",
		},
		{
			name: "the test job is filtered",
			old:  "      - test-and-lint\n", new: "      - test-and-lint:\n          filters:\n            branches:\n              ignore: gh-pages\n",
			want: "test-and-lint has a branch filter: it must run on every branch", at: "          filters:\n            branches:\n              ignore",
		},
		{
			name: "the build job is not filtered",
			old:  "[dockerhub]\n          filters:\n            branches:\n              only: [main, master]\n", new: "[dockerhub]\n",
			want: "build-and-push must run only on the main line: give it filters: branches: only: [main, master], and no other filter",
			at:   "      - build-and-push:",
		},
		{
			name: "deploy may run on another branch",
			old:  "sentry]\n          filters:\n            branches:\n              only: [main, master]", new: "sentry]\n          filters:\n            branches:\n              only: [main, develop]",
			want: "deploy must run only on the main line", at: "          filters:\n            branches:\n              only: [main, develop]",
		},
		{
			name: "deploy runs on branches matching a regular expression",
			old:  "sentry]\n          filters:\n            branches:\n              only: [main, master]", new: "sentry]\n          filters:\n            branches:\n              only: /ma.*/",
			want: "deploy must run only on the main line", at: "          filters:\n            branches:\n              only: /ma.*/",
		},
		{
			name: "deploy runs on every branch but one",
			old:  "sentry]\n          filters:\n            branches:\n              only: [main, master]", new: "sentry]\n          filters:\n            branches:\n              ignore: develop",
			want: "deploy must run only on the main line", at: "          filters:\n            branches:\n              ignore",
		},
		{
			name: "deploy also runs for tags",
			old:  "sentry]\n          filters:\n", new: "sentry]\n          filters:\n            tags:\n              only: /^v.*/\n",
			want: "deploy must run only on the main line", at: "          filters:\n            tags:",
		},
		{
			name: "deploy skips build-and-push",
			old:  "          requires:\n            - build-and-push", new: "          requires:\n            - test-and-lint",
			want: "deploy must require build-and-push: the pipeline is test-and-lint → build-and-push → deploy", at: "      - deploy:",
		},
		{
			name: "the workflow does not run deploy",
			old:  "      - deploy:\n          requires:\n            - build-and-push\n          context: [dockerhub, heroku, sentry]\n", new: "      - ship:\n          requires: [build-and-push]\n          context: [dockerhub, heroku, sentry]\n",
			want: "workflow pipeline does not run deploy: the pipeline is test-and-lint → build-and-push → deploy", at: "  pipeline:",
		},
		{
			name: "no workflow runs the test job",
			old:  "      - test-and-lint\n      - build-and-push:\n          requires: [test-and-lint]", new: "      - build-and-push:\n          requires: []",
			want: "no workflow runs test-and-lint", at: "workflows:",
		},
		{
			name: "an unknown mage target",
			old:  "go tool mage build push", new: "go tool mage build psuh",
			want: `"go tool mage build psuh": mage has no target psuh (go tool mage -l lists bench, build, deploy,`, at: "      - run: go tool mage build psuh",
		},
		{
			name: "an unknown target after a mage flag with a value",
			old:  "go tool mage build push", new: "go tool mage -t=5m biuld push",
			want: "mage has no target biuld", at: "      - run: go tool mage -t=5m biuld",
		},
		{
			name: "a mage flag's value given as a word of its own",
			old:  "go tool mage build push", new: "go tool mage -t 5m build push",
			want: "mage has no target 5m", at: "      - run: go tool mage -t 5m build",
		},
		{
			name: "an unknown target after a target's flag",
			old:  "go tool mage doctor -stage=test", new: "go tool mage doctor -stage=test lnit",
			want: "mage has no target lnit", at: "          command: go tool mage doctor -stage=test lnit",
		},
		{
			name: "an unknown target in the second command of a line",
			old:  "            go tool mage deploy\n", new: "            cd . && go tool mage deploy; go tool mage delpoy | tee log\n",
			want: "mage has no target delpoy", at: "          command: |\n            # release",
		},
		{
			name: "an unknown target in a reusable command, in a when block",
			old:  "\njobs:\n  test-and-lint:", new: "\ncommands:\n  diagnose:\n    steps:\n      - when:\n          condition: true\n          steps:\n            - run: go tool mage docter\njobs:\n  test-and-lint:",
			want: "mage has no target docter", at: "            - run: go tool mage docter",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := mutate(t, readFixture(t), tt.old, tt.new)
			hasProblem(t, checkRules(t, config), lineOf(t, config, tt.at), tt.want)
		})
	}
}

// hasProblem checks that the problems reported, one per line, include one
// on config.yml's line line whose message contains want.
func hasProblem(t *testing.T, problems string, line int, want string) {
	t.Helper()
	prefix := fmt.Sprintf("config.yml:%d: ", line)
	for _, p := range strings.Split(problems, "\n") {
		if _, msg, ok := strings.Cut(p, prefix); ok && strings.Contains(msg, want) {
			return
		}
	}
	t.Errorf("no problem on line %d says %q; got:\n%s", line, want, problems)
}

func TestProblemsAreListedOnePerLineInLineOrder(t *testing.T) {
	config := mutate(t, readFixture(t), "go tool mage build push", "go tool mage biuld psuh")
	config = mutate(t, config, "requires: [test-and-lint]", "requires: [test]")
	lines := strings.Split(checkRules(t, config), "\n")
	want := []string{
		fmt.Sprintf("config.yml:%d: %q: mage has no target biuld", lineOf(t, config, "      - run: go tool mage biuld"), "go tool mage biuld psuh"),
		fmt.Sprintf("config.yml:%d: %q: mage has no target psuh", lineOf(t, config, "      - run: go tool mage biuld"), "go tool mage biuld psuh"),
		fmt.Sprintf("config.yml:%d: build-and-push must require test-and-lint", lineOf(t, config, "      - build-and-push:")),
		fmt.Sprintf("config.yml:%d: in workflow pipeline, build-and-push requires test,", lineOf(t, config, "requires: [test]")),
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if !strings.Contains(lines[i], want[i]) {
			t.Errorf("problem %d = %s\nwant it to contain %s", i+1, lines[i], want[i])
		}
	}
}

func TestAProblemIsListedOnce(t *testing.T) {
	config := mutate(t, readFixture(t), "go tool mage build push", "go tool mage biuld; go tool mage biuld")
	if got := checkRules(t, config); strings.Count(got, "mage has no target biuld") != 1 {
		t.Errorf("problems:\n%s\nwant the unknown target listed once", got)
	}
}

func TestMageCommandsAndTargets(t *testing.T) {
	tests := []struct {
		command string
		args    [][]string // the words after go tool mage, per command
		targets []string   // the targets named, in order
	}{
		{"go tool mage lint test", [][]string{{"lint", "test"}}, []string{"lint", "test"}},
		{"go tool mage -v -t=5m build push", [][]string{{"-v", "-t=5m", "build", "push"}}, []string{"build", "push"}},
		{"go tool mage -t=5m --d=magefiles build", [][]string{{"-t=5m", "--d=magefiles", "build"}}, []string{"build"}},
		{"go tool mage doctor -stage=push -online", [][]string{{"doctor", "-stage=push", "-online"}}, []string{"doctor"}},
		{"go tool mage doctor -t x", [][]string{{"doctor", "-t", "x"}}, []string{"doctor", "x"}}, // a flag's value is one word
		{"cd app && go tool mage build; go tool mage push | tee log", [][]string{{"build"}, {"push"}}, []string{"build", "push"}},
		{"go tool mage \\\n  lint\n# go tool mage not-this", [][]string{{"lint"}}, []string{"lint"}},
		{"go test ./... && go tool cover -func=c.out", nil, nil},
	}
	for _, tt := range tests {
		args := mageCommands(tt.command)
		if !reflect.DeepEqual(args, tt.args) {
			t.Errorf("mageCommands(%q) = %q, want %q", tt.command, args, tt.args)
		}
		var targets []string
		for _, a := range args {
			targets = append(targets, targetNames(a)...)
		}
		if !reflect.DeepEqual(targets, tt.targets) {
			t.Errorf("targets of %q = %q, want %q", tt.command, targets, tt.targets)
		}
	}
}

func TestPipeline(t *testing.T) {
	jobs, err := load(t, readFixture(t)).Pipeline()
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{
			Name: "test-and-lint", Env: map[string]string{"TEST_RESULTS_DIR": "/tmp/test-results"},
			Mage: [][]string{{"lint", "test"}}, OnFail: [][]string{{"doctor", "-stage=test"}},
		},
		{
			Name: "build-and-push", Requires: []string{"test-and-lint"}, Contexts: []string{"dockerhub"}, Env: map[string]string{},
			Mage: [][]string{{"build", "push"}}, OnFail: [][]string{{"doctor", "-stage=push", "-online"}},
		},
		{
			Name: "deploy", Requires: []string{"build-and-push"}, Contexts: []string{"dockerhub", "heroku", "sentry"}, Env: map[string]string{},
			Mage: [][]string{{"deploy"}},
		},
	}
	if !reflect.DeepEqual(jobs, want) {
		t.Errorf("Pipeline() =\n%+v\nwant\n%+v", jobs, want)
	}

	broken := mutate(t, readFixture(t), "      - deploy:\n          requires:", "      - ship:\n          requires:")
	if _, err := load(t, broken).Pipeline(); err == nil || !strings.Contains(err.Error(), "deploy") {
		t.Errorf("Pipeline of a workflow without deploy: err = %v, want one naming deploy", err)
	}
}

// TestLoadGivesJSONValues checks that the schema sees what JSON has: YAML
// dates and keys that are not strings are strings, as written; anchors are
// resolved.
func TestLoadGivesJSONValues(t *testing.T) {
	c := load(t, "a: 2024-01-02\nb: {1: x, true: y}\nc: &c {k: v}\nd:\n  <<: *c\n  j: w\n")
	want := map[string]any{
		"a": "2024-01-02", "b": map[string]any{"1": "x", "true": "y"},
		"c": map[string]any{"k": "v"}, "d": map[string]any{"k": "v", "j": "w"},
	}
	if !reflect.DeepEqual(c.doc, want) {
		t.Errorf("doc = %#v, want %#v", c.doc, want)
	}
	if got := c.line("/d/k"); got != 4 {
		t.Errorf("the line of a merged key = %d, want 4, the line of the mapping it is merged into", got)
	}
}

func TestLoadRefusesWhatIsNotAConfig(t *testing.T) {
	for _, text := range []string{"jobs: [", "- a\n- b\n", "", "just text"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, ".circleci"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, Path), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Errorf("Load of %q succeeded", text)
		}
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of a directory without a config succeeded")
	}
}

// TestTheProjectConfigPassesLint runs Lint as mage lint does, on the
// repository, asking its mage for the targets. The pinned schema cannot be
// downloaded here (see TestMain): the schema part is skipped with a notice.
func TestTheProjectConfigPassesLint(t *testing.T) {
	var out, said strings.Builder
	err := Lint(context.Background(), "../../..", "", &runner.Runner{Out: &said}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, said.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), "schema check skipped; set CIRCLECI_SCHEMA") {
		t.Errorf("notice = %q, want one line saying the schema check was skipped and how to enable it", out.String())
	}

	c, err := Load("../../..")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Pipeline()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	if got := strings.Join(names, " "); got != "test-and-lint build-and-push deploy" {
		t.Errorf("Pipeline() runs %s", got)
	}
}

// TestTheProjectConfigCachesWhatGoUses: each executor names a dated image
// and where Go keeps its caches, each job that builds Go restores the
// module cache, and every Go cache a job saves is one of those places.
func TestTheProjectConfigCachesWhatGoUses(t *testing.T) {
	c, err := Load("../../..")
	if err != nil {
		t.Fatal(err)
	}
	goCaches := map[string]string{"GOMODCACHE": "go/pkg/mod", "GOCACHE": "go-build"}
	for name, ex := range mapOf(c.doc["executors"]) {
		image := fmt.Sprint(get(get(ex, "machine"), "image"))
		if get(ex, "machine") != nil && !regexp.MustCompile(`:\d{4}\.\d{2}\.\d+$`).MatchString(image) {
			t.Errorf("executor %s runs on %s, want a dated tag such as ubuntu-2404:2025.09.1", name, image)
		}
		env := mapOf(get(ex, "environment"))
		for job, conf := range mapOf(c.doc["jobs"]) {
			if get(conf, "executor") != name || job == "deploy" {
				continue
			}
			var restored, saved []string
			for _, step := range list(get(conf, "steps")) {
				restored = append(restored, strs(get(get(step, "restore_cache"), "keys"))...)
				saved = append(saved, strs(get(get(step, "save_cache"), "paths"))...)
			}
			if !slices.ContainsFunc(restored, func(k string) bool { return strings.HasPrefix(k, "go-mod-") }) {
				t.Errorf("job %s does not restore the module cache", job)
			}
			for variable, marker := range goCaches {
				for _, path := range saved {
					if strings.Contains(path, marker) && path != env[variable] {
						t.Errorf("job %s saves %s, but its executor %s has %s=%v", job, path, name, variable, env[variable])
					}
				}
			}
		}
	}
}
