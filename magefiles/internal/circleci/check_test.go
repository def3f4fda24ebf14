package circleci

import (
	"context"
	"os"
	"strings"
	"testing"
)

// testRules are the project's rules with the Go version of the fixture.
func testRules(t *testing.T) Rules {
	t.Helper()
	rules, err := ProjectRules("../../..")
	if err != nil {
		t.Fatal(err)
	}
	rules.GoVersion = "1.26.0"
	return rules
}

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

// lineOfText returns the line on which text first starts in config.
func lineOfText(t *testing.T, config, text string) int {
	t.Helper()
	i := strings.Index(config, text)
	if i < 0 {
		t.Fatalf("%q is not in the config", text)
	}
	return strings.Count(config[:i], "\n") + 1
}

func check(t *testing.T, config string) []Problem {
	t.Helper()
	c, err := Parse("config.yml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	problems, err := Check(context.Background(), c, testRules(t), projectTargets)
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

func TestTheFixtureIsValid(t *testing.T) {
	if problems := check(t, readFixture(t)); len(problems) > 0 {
		t.Errorf("the valid fixture has problems: %+v", problems)
	}
}

func TestTheProjectConfigFollowsTheRules(t *testing.T) {
	c, err := Load("../../../" + Path)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := ProjectRules("../../..")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := Check(context.Background(), c, rules, projectTargets)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s:%d: %s", Path, p.Line, p.Message)
	}
}

// TestCheckCatchesBrokenConfigs breaks the valid fixture one way at a time
// and expects the check to say what is wrong, on the right line.
func TestCheckCatchesBrokenConfigs(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string // in a problem's message
		at       string // on the line where this first appears in the broken config; "": any line
	}{
		{
			name: "a workflow runs a job that is not defined",
			old:  "  deploy:\n    executor: go", new: "  deploy-to-heroku:\n    executor: go",
			want: "workflow pipeline runs job deploy, which jobs: does not define (it defines build-and-push, deploy-to-heroku and test-and-lint)", at: "      - deploy:",
		},
		{
			name: "requires names a job that is not in the workflow",
			old:  "requires: [test-and-lint]", new: "requires: [test-and-lnit]",
			want: "in workflow pipeline, build-and-push requires test-and-lnit, which is not a job of this workflow", at: "test-and-lnit",
		},
		{
			name: "requires names a job of another workflow",
			old:  "          context: [dockerhub, heroku, sentry]\n", new: "          context: [dockerhub, heroku, sentry]\n  nightly:\n    jobs:\n      - test-and-lint\n      - deploy:\n          requires: [build-and-push]\n",
			want: "in workflow nightly, deploy requires build-and-push, which is not a job of this workflow", at: "requires: [build-and-push]",
		},
		{
			name: "the chain skips build-and-push",
			old:  "          requires:\n            - build-and-push", new: "          requires:\n            - test-and-lint",
			want: "in workflow pipeline, deploy must require build-and-push (the pipeline is test-and-lint → build-and-push → deploy), not test-and-lint",
		},
		{
			name: "deploy runs even when build-and-push failed",
			old:  "            - build-and-push\n", new: "            - build-and-push: [success, failed]\n",
			want: "deploy requires build-and-push to end success or failed: it must run only after build-and-push succeeded",
		},
		{
			name: "a misspelled mage target",
			old:  "go tool mage build push", new: "go tool mage build psuh",
			want: `job build-and-push runs "build psuh": mage has no target "psuh"`, at: "psuh",
		},
		{
			name: "a misspelled target in a multi-line command",
			old:  "            go tool mage deploy\n", new: "            go tool mage delpoy\n",
			want: `mage has no target "delpoy"`,
		},
		{
			name: "a misspelled target in a command's step",
			old:  "go tool mage doctor -stage=", new: "go tool mage docter -stage=",
			want: `mage has no target "docter"`,
		},
		{
			name: "a job does not call the targets it is for",
			old:  "go tool mage lint test", new: "go tool mage lint",
			want: "job test-and-lint must call mage test (go tool mage lint test)",
		},
		{
			name: "a target called only when the job fails does not count",
			old:  "      - run:\n          name: Deploy", new: "      - run:\n          when: on_fail\n          name: Deploy",
			want: "job deploy must call mage deploy",
		},
		{
			name: "a filter lets deploy run on every branch",
			old:  "          context: [dockerhub, heroku, sentry]\n          filters:\n            branches:\n              only: master\n",
			new:  "          context: [dockerhub, heroku, sentry]\n",
			want: "deploy runs on every branch: give it filters: branches: only: master",
		},
		{
			name: "a regular expression lets deploy run on other branches",
			old:  "sentry]\n          filters:\n            branches:\n              only: master", new: "sentry]\n          filters:\n            branches:\n              only: /master.*/",
			want: "deploy runs on branches matching /master.*/: use filters: branches: only: master",
		},
		{
			name: "deploy runs on every branch but one",
			old:  "sentry]\n          filters:\n            branches:\n              only: master", new: "sentry]\n          filters:\n            branches:\n              ignore: develop",
			want: "deploy runs on every branch not ignored",
		},
		{
			name: "a misspelled filter key, which the schema accepts",
			old:  "sentry]\n          filters:\n            branches:", new: "sentry]\n          filters:\n            branch:",
			want: "deploy runs on every branch",
		},
		{
			name: "deploy also runs for tags",
			old:  "sentry]\n          filters:\n            branches:\n              only: master", new: "sentry]\n          filters:\n            tags:\n              only: /^v.*/\n            branches:\n              only: master",
			want: "deploy also runs for tags /^v.*/: it must run on master only",
		},
		{
			name: "deploy filtered by an expression",
			old:  "sentry]\n          filters:\n            branches:\n              only: master", new: "sentry]\n          filters: pipeline.git.branch != \"\"",
			want: "deploy is filtered by an expression this check cannot read",
		},
		{
			name: "test-and-lint does not run on every branch",
			old:  "      - test-and-lint\n", new: "      - test-and-lint:\n          filters:\n            branches:\n              only: master\n",
			want: "test-and-lint has a branch filter: it must run on every branch",
		},
		{
			name: "test-and-lint gets secrets",
			old:  "      - test-and-lint\n", new: "      - test-and-lint:\n          context: dockerhub\n",
			want: "test-and-lint gets context dockerhub: it runs on every branch and needs no secrets",
		},
		{
			name: "a workflow condition",
			old:  "  pipeline:\n    jobs:", new: "  pipeline:\n    when: << pipeline.parameters.run >>\n    jobs:",
			want: "workflow pipeline has a when or unless condition: test-and-lint must run on every branch",
		},
		{
			name: "a job uses an executor that is not defined",
			old:  "  build-and-push:\n    executor: go", new: "  build-and-push:\n    executor: golang",
			want: "job build-and-push uses executor golang, which executors: does not define (it defines go and vm)", at: "build-and-push:\n    executor: golang",
		},
		{
			name: "a step invokes a command that is not defined",
			old:  "      - diagnose:\n          stage: push", new: "      - diagnos:\n          stage: push",
			want: "job build-and-push invokes diagnos, which is neither a CircleCI step nor a command in commands: (diagnose)",
		},
		{
			name: "a misspelled built-in step",
			old:  "      - setup_remote_docker\n      - run: go tool mage build push", new: "      - setup_remote_dcoker\n      - run: go tool mage build push",
			want: "job build-and-push invokes setup_remote_dcoker",
		},
		{
			name: "the Go image is not go.mod's version",
			old:  "cimg/go:1.26", new: "cimg/go:1.25.4",
			want: "executor go uses cimg/go:1.25.4, but go.mod says go 1.26.0: use cimg/go:1.26", at: "      - image: cimg/go:1.25.4",
		},
		{
			name: "an unpinned Go image",
			old:  "cimg/go:1.26", new: "cimg/go:current",
			want: "uses cimg/go:current, but go.mod says go 1.26.0",
		},
		{
			name: "a secret written in the config",
			old:  "      TEST_RESULTS_DIR: /tmp/test-results\n", new: "      TEST_RESULTS_DIR: /tmp/test-results\n      DOCKERHUB_PASS: hunter2\n",
			want: "job test-and-lint sets DOCKERHUB_PASS in the config: secrets belong in a context",
		},
		{
			name: "a secret written in a when block of a command",
			old:  "      - run:\n          name: Diagnose",
			new:  "      - when:\n          condition: true\n          steps:\n            - run:\n                command: echo\n                environment:\n                  HEROKU_API_KEY: k\n      - run:\n          name: Diagnose",
			want: "a step in command diagnose sets HEROKU_API_KEY in the config", at: "HEROKU_API_KEY: k",
		},
		{
			name: "a secret written in a workflow's pre-steps",
			old:  "          requires: [test-and-lint]\n",
			new:  "          requires: [test-and-lint]\n          pre-steps:\n            - run:\n                command: echo\n                environment:\n                  DOCKERHUB_PASS: hunter2\n",
			want: "a step in pre-steps of build-and-push sets DOCKERHUB_PASS in the config", at: "DOCKERHUB_PASS: hunter2",
		},
		{
			name: "a command supplies a step that is not defined",
			old:  "commands:\n", new: "commands:\n  docker:\n    steps:\n      - when:\n          condition: true\n          steps: [setup_remote_dcoker]\n",
			want: "command docker invokes setup_remote_dcoker", at: "setup_remote_dcoker",
		},
		{
			name: "build without a Docker engine",
			old:  "      - setup_remote_docker\n      - run: go tool mage build push", new: "      - run: go tool mage build push",
			want: "job build-and-push calls mage build, which needs a Docker engine: add a setup_remote_docker step",
		},
		{
			name: "integration tests on remote Docker",
			old:  "  test-and-lint:\n    executor: vm", new: "  test-and-lint:\n    executor: go",
			want: "job test-and-lint calls mage test, whose tests need a Docker engine on the job's own host: use a machine executor",
		},
		{
			name: "test results not stored",
			old:  "      - store_test_results:\n          path: /tmp/test-results\n", new: "",
			want: "job test-and-lint writes test results to /tmp/test-results but has no store_test_results step with path: /tmp/test-results",
		},
		{
			name: "test results not written",
			old:  "    environment:\n      TEST_RESULTS_DIR: /tmp/test-results\n", new: "",
			want: "job test-and-lint calls mage test but does not set TEST_RESULTS_DIR",
		},
		{
			name: "a job run twice under one name",
			old:  "      - test-and-lint\n", new: "      - test-and-lint\n      - test-and-lint\n",
			want: "workflow pipeline runs test-and-lint twice",
		},
		{
			name: "no workflow runs the chain",
			old:  "      - test-and-lint\n      - build-and-push:\n          requires: [test-and-lint]", new: "      - build-and-push:\n          requires: []",
			want: "no workflow runs test-and-lint: the pipeline is test-and-lint → build-and-push → deploy",
		},
	}
	base := readFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := mutate(t, base, tt.old, tt.new)
			line := 0
			if tt.at != "" {
				line = lineOfText(t, config, tt.at)
			}
			problems := check(t, config)
			for _, p := range problems {
				if strings.Contains(p.Message, tt.want) && (line == 0 || p.Line == line) {
					return
				}
			}
			t.Errorf("no problem says %q (on line %d); got:", tt.want, line)
			for _, p := range problems {
				t.Errorf("  %d: %s", p.Line, p.Message)
			}
		})
	}
}

// TestStepsSuppliedByCommandsCount moves steps the rules ask for into
// commands, inside when blocks too: the job has them all the same.
func TestStepsSuppliedByCommandsCount(t *testing.T) {
	config := readFixture(t)
	config = mutate(t, config, "commands:\n", "commands:\n"+
		"  docker:\n    steps:\n      - setup_remote_docker\n"+
		"  store-results:\n    steps:\n      - when:\n          condition: true\n          steps:\n"+
		"            - store_test_results:\n                path: /tmp/test-results\n")
	config = mutate(t, config, "      - setup_remote_docker\n      - run: go tool mage build push", "      - docker\n      - run: go tool mage build push")
	config = mutate(t, config, "      - store_test_results:\n          path: /tmp/test-results\n", "      - store-results\n")
	for _, p := range check(t, config) {
		t.Errorf("%d: %s", p.Line, p.Message)
	}
}

func TestOrder(t *testing.T) {
	c, err := Parse("config.yml", []byte(`
version: 2.1
workflows:
  w:
    jobs:
      - deploy:
          requires: [build]
      - build:
          requires: [test, lint]
      - lint
      - test
`))
	if err != nil {
		t.Fatal(err)
	}
	order, err := c.Workflow("w").Order()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range order {
		names = append(names, j.Name)
	}
	if got, want := strings.Join(names, " "), "lint test build deploy"; got != want {
		t.Errorf("Order = %s, want %s", got, want)
	}

	cycle, err := Parse("config.yml", []byte("workflows:\n  w:\n    jobs:\n      - a:\n          requires: [b]\n      - b:\n          requires: [a]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cycle.Workflow("w").Order(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("Order of a cycle: err = %v", err)
	}
}

func TestParseFollowsAnchorsAndMergeKeys(t *testing.T) {
	c, err := Parse("config.yml", []byte(`
version: 2.1
defaults: &defaults
  executor: go
  environment:
    TEST_RESULTS_DIR: /tmp/r
executors:
  go:
    docker:
      - image: cimg/go:1.26
jobs:
  test:
    <<: *defaults
    steps:
      - checkout
      - run: &mage
          name: Mage
          command: go tool mage test
  again:
    <<: *defaults
    executor: other
    steps:
      - run: *mage
`))
	if err != nil {
		t.Fatal(err)
	}
	test := c.Jobs["test"]
	if dir, _ := test.Env("TEST_RESULTS_DIR"); test.Executor != "go" || dir != "/tmp/r" {
		t.Errorf("merged job = executor %q, TEST_RESULTS_DIR %q", test.Executor, dir)
	}
	if c.Jobs["again"].Executor != "other" {
		t.Errorf("a job's own key must win over a merged one: executor %q", c.Jobs["again"].Executor)
	}
	runs := c.MageRuns("again")
	if len(runs) != 1 || strings.Join(runs[0].Args, " ") != "test" || runs[0].Step.Line != 23 {
		t.Errorf("MageRuns through an alias = %+v", runs)
	}
}

func TestParseRejectsWhatIsNotAConfig(t *testing.T) {
	for _, text := range []string{"jobs: [", "- a\n- b\n", ""} {
		if _, err := Parse("config.yml", []byte(text)); err == nil {
			t.Errorf("Parse(%q) succeeded", text)
		}
	}
}

func TestGoModVersion(t *testing.T) {
	path := t.TempDir() + "/go.mod"
	if err := os.WriteFile(path, []byte("module example.com/x\n\ngo 1.26.0\n\ntoolchain go1.26.8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := GoModVersion(path); err != nil || v != "1.26.0" {
		t.Errorf("GoModVersion = %q, %v", v, err)
	}
	if minor("1.26.0") != "1.26" || minor("1.26") != "1.26" {
		t.Error("minor does not keep major.minor")
	}
}
