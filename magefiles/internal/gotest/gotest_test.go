package gotest

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		verbose bool
		want    string
	}{{
		name: "defaults",
		o:    Options{ResultsDir: "/results"},
		want: "go tool -modfile=tools/go.mod gotestsum --format=pkgname --format-hide-empty-pkg " +
			"--junitfile=/results/junit.xml --junitfile-hide-empty-pkg -- " +
			"-covermode=atomic -coverprofile=/results/coverage.out ./...",
	}, {
		name: "everything, verbose",
		o: Options{
			Dir: "sub", Packages: []string{"./a", "./b/..."}, Race: true, Timeout: 20 * time.Minute, Parallel: 4,
			ResultsDir: "/results", ToolsModfile: "/repo/tools/go.mod",
		},
		verbose: true,
		want: "go tool -modfile=/repo/tools/go.mod gotestsum --format=standard-verbose --format-hide-empty-pkg " +
			"--junitfile=/results/junit.xml --junitfile-hide-empty-pkg -- " +
			"-covermode=atomic -coverprofile=/results/coverage.out -race -timeout=20m0s -p=4 ./a ./b/...",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := Command(tc.o, tc.verbose)
			if got := c.String(); got != tc.want {
				t.Errorf("Command:\n got %s\nwant %s", got, tc.want)
			}
			if c.Dir != tc.o.Dir {
				t.Errorf("Dir = %q, want %q", c.Dir, tc.o.Dir)
			}
			if race := slices.Contains(c.Env, "GORACE=atexit_sleep_ms=0"); race != tc.o.Race {
				t.Errorf("Env = %q, want GORACE=atexit_sleep_ms=0 exactly with -race", c.Env)
			}
		})
	}
}

// sample returns Options for the module in testdata/sample, which has a
// passing, a skipped, a failing and a non-compiling test. Each Run on it
// compiles, so the tests that use it are few.
func sample(t *testing.T, pkgs ...string) Options {
	t.Helper()
	if testing.Short() {
		t.Skip("runs gotestsum on a sample module")
	}
	modfile, err := filepath.Abs("../../../tools/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Dir: "testdata/sample", Packages: pkgs, ToolsModfile: modfile}
}

func TestRunReportsFailures(t *testing.T) {
	o := sample(t)
	o.ResultsDir = filepath.Join(t.TempDir(), "results") // Run creates it
	var out strings.Builder
	err := Run(context.Background(), &runner.Runner{Out: &out}, o)
	text := out.String()
	if err == nil || err.Error() != "tests failed (see above)" {
		t.Errorf("Run returned %v, want tests failed\n%s", err, text)
	}
	for _, want := range []string{
		"=== FAIL: bad TestBroken",
		"expected 1, got 2",
		"undefined: undefinedThing",
		"engine not running", // why TestNeedsEngine was skipped
		"DONE 4 tests, 1 skipped, 2 failures, 1 error",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "TestFine") || strings.Contains(text, "total coverage") {
		t.Errorf("the output shows a passing test or the total coverage of a failed run:\n%s", text)
	}

	b, err := os.ReadFile(filepath.Join(o.ResultsDir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var junit struct {
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &junit); err != nil {
		t.Fatalf("junit.xml: %v\n%s", err, b)
	}
	var suites []string
	for _, s := range junit.Suites {
		suites = append(suites, s.Name)
	}
	if want := []string{"sample/bad", "sample/broken", "sample/good"}; junit.Failures != 2 || !slices.Equal(suites, want) {
		t.Errorf("junit.xml has %d failures in %q, want 2 in %q:\n%s", junit.Failures, suites, want, b)
	}
	if _, err := os.Stat(filepath.Join(o.ResultsDir, "coverage.out")); err != nil {
		t.Errorf("no coverage profile: %v", err)
	}
}

func TestRunPassesAndReportsCoverage(t *testing.T) {
	o := sample(t, "./good")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where Run's results directory goes, to see it removed
	var out strings.Builder
	if err := Run(context.Background(), &runner.Runner{Out: &out}, o); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if text := out.String(); !strings.HasSuffix(text, "\ntotal coverage: 100.0% of statements\n") ||
		!strings.Contains(text, "engine not running") {
		t.Errorf("the output lacks the skip reason or ends without the coverage:\n%s", text)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("Run left %s in the temporary directory", left[0].Name())
	}
}

func TestRunWithoutGotestsum(t *testing.T) {
	o := sample(t)
	o.ToolsModfile = filepath.Join(t.TempDir(), "missing.mod")
	var out strings.Builder
	err := Run(context.Background(), &runner.Runner{Out: &out}, o)
	if err == nil || !strings.HasPrefix(err.Error(), "gotestsum did not run the tests (see above): ") ||
		!strings.Contains(out.String(), "missing.mod") {
		t.Errorf("Run returned %v after showing:\n%s", err, out.String())
	}
}

// TestRunMasksSecrets: a secret a test prints is masked in what is shown,
// live with verbose and in gotestsum's summary, and in junit.xml, where XML
// escapes its special characters.
func TestRunMasksSecrets(t *testing.T) {
	o := sample(t, "./bad")
	const token = `sample&secret<token>"7d2f`
	var escaped bytes.Buffer
	_ = xml.EscapeText(&escaped, []byte(token))
	t.Setenv("SAMPLE_TOKEN", token) // TestBroken prints it
	for _, tc := range []struct {
		verbose bool
		shown   int // times the masked line is shown: live, and in the summary
	}{{false, 1}, {true, 2}} {
		var out strings.Builder
		r := &runner.Runner{Verbose: tc.verbose, Out: &out, Redactor: redact.New(token)}
		o.ResultsDir = t.TempDir()
		if err := Run(context.Background(), r, o); err == nil {
			t.Fatal("Run succeeded on a failing test")
		}
		text := out.String()
		if strings.Contains(text, token) {
			t.Errorf("verbose %v: the output shows the secret:\n%s", tc.verbose, text)
		}
		if n := strings.Count(text, "the token is "+redact.Mask); n != tc.shown {
			t.Errorf("verbose %v: the masked line is shown %d times, want %d:\n%s", tc.verbose, n, tc.shown, text)
		}

		junit, err := os.ReadFile(filepath.Join(o.ResultsDir, "junit.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(junit, escaped.Bytes()) || !bytes.Contains(junit, []byte("the token is "+redact.Mask)) {
			t.Errorf("verbose %v: junit.xml does not mask the secret:\n%s", tc.verbose, junit)
		}
		if err := xml.Unmarshal(junit, new(struct{})); err != nil {
			t.Errorf("verbose %v: junit.xml is no longer XML: %v\n%s", tc.verbose, err, junit)
		}
	}
}
