package circleci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// officialSchema returns CircleCI's schema from its default place next to the
// repository, or skips: a clean clone may not have it, and mage lint then
// skips the schema check too, saying so.
func officialSchema(t *testing.T) *Schema {
	t.Helper()
	path, _ := SchemaPath("../../..", settings.Map(nil))
	s, err := LoadSchema(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("CircleCI schema not found at %s (it is not part of the repository): schema tests skipped", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheProjectConfigMatchesTheOfficialSchema(t *testing.T) {
	s := officialSchema(t)
	for _, file := range []string{"../../../" + Path, "testdata/pipeline.yml"} {
		c, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Validate(c) {
			t.Errorf("%s:%d: %s", file, p.Line, p.Message)
		}
	}
}

func TestTheOfficialSchemaCatchesMistakes(t *testing.T) {
	s := officialSchema(t)
	tests := []struct {
		name     string
		old, new string
		want     string // in a problem's message
		at       string // text that starts on the problem's line
	}{
		{
			name: "a misspelled job key",
			old:  "  deploy:\n    executor: go\n    steps:", new: "  deploy:\n    executor: go\n    stepz:",
			want: "schema: at /jobs/deploy: missing property 'steps'", at: "  deploy:\n    executor: go\n    stepz",
		},
		{
			name: "a run step's when",
			old:  "          when: on_fail", new: "          when: sometimes",
			want: "schema: at /commands/diagnose/steps/0/run/when: value must be one of", at: "          when: sometimes",
		},
		{
			name: "a misspelled key of store_test_results",
			old:  "          path: /tmp/test-results", new: "          pth: /tmp/test-results",
			want: "schema: at /jobs/test-and-lint/steps/2/store_test_results: missing property 'path'", at: "      - store_test_results:",
		},
		{
			name: "requires given as a string",
			old:  "requires: [test-and-lint]", new: "requires: test-and-lint",
			want: "schema: at /workflows/pipeline/jobs/1/build-and-push/requires: got string, want array", at: "requires: test-and-lint",
		},
		{
			name: "no version",
			old:  "version: 2.1\n", new: "",
			want: "schema: at /: missing property 'version'", at: "executors:",
		},
	}
	base := readFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := mutate(t, base, tt.old, tt.new)
			c, err := Parse("config.yml", []byte(config))
			if err != nil {
				t.Fatal(err)
			}
			line := lineOfText(t, config, tt.at)
			problems := s.Validate(c)
			for _, p := range problems {
				if strings.Contains(p.Message, tt.want) && p.Line == line {
					return
				}
			}
			t.Errorf("no problem says %q on line %d; got %+v", tt.want, line, problems)
		})
	}
}

// TestValidateReportsTheCloserAlternative uses a small schema of the same
// shape as CircleCI's (a step is a string or an object) to check what a
// failed oneOf reports, without the official schema.
func TestValidateReportsTheCloserAlternative(t *testing.T) {
	s, err := LoadSchema("testdata/steps.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("config.yml", []byte("steps:\n  - checkout\n  - run:\n      name: x\n")) // run without command
	if err != nil {
		t.Fatal(err)
	}
	problems := s.Validate(c)
	if len(problems) != 1 {
		t.Fatalf("problems = %+v, want exactly one", problems)
	}
	if p := problems[0]; p.Line != 3 || p.Message != "schema: at /steps/1/run: missing property 'command'" {
		t.Errorf("problem = %+v, want line 3 (run:): missing property 'command' at /steps/1/run", p)
	}
}

func TestLoadSchemaWorksOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schema.json")
	if err := os.WriteFile(path, []byte(`{"$ref": "https://json.schemastore.org/circleciconfig.json"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSchema(path)
	if err == nil || !strings.Contains(err.Error(), "offline") {
		t.Errorf("a schema with a remote $ref: err = %v, want a refusal that says offline", err)
	}
	if _, err := LoadSchema(filepath.Join(t.TempDir(), "absent.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an absent schema: err = %v, want fs.ErrNotExist", err)
	}
}

// repo writes a repository with the fixture as its config.
func repo(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".circleci"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Path), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLintWithoutTheSchemaSaysSoAndChecksTheRest(t *testing.T) {
	config := mutate(t, readFixture(t), "go tool mage build push", "go tool mage build psuh")
	dir := repo(t, config)
	line := lineOfText(t, config, "psuh")
	var out strings.Builder
	err := Lint(context.Background(), dir, settings.Map(nil), projectTargets, &out)

	wantNotice := "CircleCI schema not found at " + filepath.Join(dir, "../shared/circleci/schema.json") +
		": schema check skipped; set CIRCLECI_SCHEMA to its path\n"
	if out.String() != wantNotice {
		t.Errorf("notice = %q, want %q", out.String(), wantNotice)
	}
	var lintErr *Error
	if !errors.As(err, &lintErr) || !strings.Contains(err.Error(), fmt.Sprintf(`.circleci/config.yml:%d: job build-and-push runs "build psuh"`, line)) {
		t.Errorf("Lint = %v, want the misspelled target reported with its line", err)
	}
}

func TestLintWithAnExplicitSchemaThatIsMissingFails(t *testing.T) {
	dir := repo(t, readFixture(t))
	env := settings.Map(map[string]string{"CIRCLECI_SCHEMA": "schemas/circleci.json"})
	var out strings.Builder
	err := Lint(context.Background(), dir, env, projectTargets, &out)
	want := "CIRCLECI_SCHEMA names " + filepath.Join(dir, "schemas/circleci.json") + ", which does not exist"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Lint = %v, want %q", err, want)
	}
}

func TestLintUsesTheSchemaItIsGiven(t *testing.T) {
	dir := repo(t, readFixture(t))
	schema, err := filepath.Abs("testdata/steps.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	env := settings.Map(map[string]string{"CIRCLECI_SCHEMA": schema})
	var out strings.Builder
	err = Lint(context.Background(), dir, env, projectTargets, &out)
	// The fixture has no top-level steps:, which this small schema requires.
	if err == nil || !strings.Contains(err.Error(), "config.yml:2: schema: at /: missing property 'steps'") || out.Len() > 0 {
		t.Errorf("Lint = %v, notice %q; want the schema's complaint and no notice", err, out.String())
	}
}

func TestLintPassesTheValidFixture(t *testing.T) {
	var out strings.Builder
	if err := Lint(context.Background(), repo(t, readFixture(t)), settings.Map(nil), projectTargets, &out); err != nil {
		t.Error(err)
	}
}
