package gotest

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// TestRunOnASampleModule runs the real go test on a module with a passing,
// a skipped, a failing and a non-compiling test.
func TestRunOnASampleModule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a sample module")
	}
	results := t.TempDir()
	var out strings.Builder
	report, err := Run(context.Background(), &runner.Runner{Out: &out}, Options{
		Dir:        "testdata/sample",
		ResultsDir: results,
	})
	if err == nil {
		t.Fatal("Run succeeded on failing tests")
	}
	if got := [3]int{report.Count("pass"), report.Count("fail"), report.Count("skip")}; got != [3]int{2, 1, 1} {
		t.Errorf("pass/fail/skip = %v, want [2 1 1]\n%s", got, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"--- FAIL: sample/bad TestBroken",
		"expected 1, got 2",
		"--- SKIP: sample/good TestNeedsEngine: ",
		"engine not running",
		"undefinedThing",
		"FAIL: 2 passed, 1 failed, 1 skipped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "TestFine") {
		t.Errorf("report shows a passing test:\n%s", text)
	}

	b, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit.xml is not valid XML: %v", err)
	}
	failures, cases := 0, 0
	for _, s := range suites.Suites {
		failures += s.Failures
		cases += len(s.Cases)
	}
	if failures != 2 || cases != 5 { // TestBroken and the build failure
		t.Errorf("junit: %d failures in %d cases, want 2 in 5:\n%s", failures, cases, b)
	}
	if _, err := os.Stat(filepath.Join(results, "coverage.out")); err != nil {
		t.Errorf("no coverage profile: %v", err)
	}
}

func TestRunPassesAndReportsCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a sample module")
	}
	var out strings.Builder
	report, err := Run(context.Background(), &runner.Runner{Out: &out}, Options{
		Dir: "testdata/sample", Packages: []string{"./good"},
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if report.Coverage != "100.0%" || !strings.HasPrefix(out.String(), "--- SKIP") ||
		!strings.Contains(out.String(), "ok: 1 passed, 0 failed, 1 skipped in 1 packages") {
		t.Errorf("coverage %q, report:\n%s", report.Coverage, out.String())
	}
}

// TestRunMasksSecrets: a secret a test prints is masked in the report, in
// junit.xml and, with verbose, in the live output.
func TestRunMasksSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a sample module")
	}
	const token = "sample-secret-token-7d2f"
	t.Setenv("SAMPLE_TOKEN", token) // TestBroken prints it
	for _, tc := range []struct {
		verbose bool
		shown   int // times the masked line is shown: in the report, and live
	}{{false, 1}, {true, 2}} {
		var out strings.Builder
		r := &runner.Runner{Verbose: tc.verbose, Out: &out, Redactor: redact.New(token)}
		results := t.TempDir()
		if _, err := Run(context.Background(), r, Options{Dir: "testdata/sample", Packages: []string{"./bad"}, ResultsDir: results}); err == nil {
			t.Fatal("Run succeeded on a failing test")
		}
		junit, err := os.ReadFile(filepath.Join(results, "junit.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(junit), token) || !strings.Contains(string(junit), "the token is "+redact.Mask) {
			t.Errorf("verbose %v: junit.xml does not mask the secret:\n%s", tc.verbose, junit)
		}
		text := out.String()
		if strings.Contains(text, token) {
			t.Errorf("verbose %v: the output shows the secret:\n%s", tc.verbose, text)
		}
		if n := strings.Count(text, "the token is "+redact.Mask); n != tc.shown {
			t.Errorf("verbose %v: the masked line is shown %d times, want %d:\n%s", tc.verbose, n, tc.shown, text)
		}
	}
}

func TestCommand(t *testing.T) {
	c := Command(Options{Race: true, Timeout: 0}, "/tmp/c.out")
	got := c.String()
	for _, want := range []string{"go test -json", "-coverprofile=/tmp/c.out", "-race", "./..."} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
}
