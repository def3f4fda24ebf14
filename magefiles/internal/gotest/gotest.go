// Package gotest runs the project's Go tests with gotestsum, pinned in
// tools/go.mod: a line per package as they finish, then the output of every
// skipped and failed test and a summary, with JUnit XML and a coverage
// profile for CircleCI.
package gotest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Options say what to test and where the results go.
type Options struct {
	Dir        string        // module to test; empty means the current directory
	Packages   []string      // package patterns; empty means ./...
	Race       bool          // run with the race detector
	Timeout    time.Duration // per test binary; zero means go test's default, 10m
	Parallel   int           // test binaries run at once (go test -p); zero means go test's default, one per CPU
	ResultsDir string        // where junit.xml and coverage.out go; empty means a temporary directory, removed afterwards
	// ToolsModfile is the go.mod that pins gotestsum, relative to Dir or
	// absolute; empty means tools/go.mod.
	ToolsModfile string
}

// Command returns the command that runs the tests of o and writes
// junit.xml and coverage.out in o.ResultsDir. When verbose, every test's
// output is printed as it runs, as by go test -v; otherwise one line per
// package. Either way gotestsum ends with the output of the tests that
// were skipped or failed.
func Command(o Options, verbose bool) runner.Cmd {
	format := "pkgname"
	if verbose {
		format = "standard-verbose"
	}
	args := []string{
		"tool", "-modfile=" + cmp.Or(o.ToolsModfile, "tools/go.mod"), "gotestsum",
		"--format=" + format, "--format-hide-empty-pkg",
		"--junitfile=" + filepath.Join(o.ResultsDir, "junit.xml"), "--junitfile-hide-empty-pkg",
		"--", // go test's flags follow
		"-covermode=atomic", "-coverprofile=" + filepath.Join(o.ResultsDir, "coverage.out"),
	}
	if o.Race {
		args = append(args, "-race")
	}
	if o.Timeout > 0 {
		args = append(args, "-timeout="+o.Timeout.String())
	}
	if o.Parallel > 0 {
		args = append(args, "-p="+strconv.Itoa(o.Parallel))
	}
	pkgs := o.Packages
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	c := runner.Cmd{Name: "go", Args: append(args, pkgs...), Dir: o.Dir}
	if o.Race {
		// A race-enabled binary otherwise sleeps a second before it exits.
		c.Env = []string{"GORACE=atexit_sleep_ms=0"}
	}
	return c
}

// Run runs Command(o, r.Verbose) and, when every test passed, prints the
// total coverage. What it shows goes to r.Out with r's secrets masked, and
// they are masked in junit.xml too. It returns an error when any test or
// package fails.
func Run(ctx context.Context, r *runner.Runner, o Options) error {
	if o.ResultsDir == "" {
		tmp, err := os.MkdirTemp("", "oc-lettings-test-")
		if err != nil {
			return fmt.Errorf("creating a directory for the test results: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		o.ResultsDir = tmp
	} else {
		dir, err := filepath.Abs(o.ResultsDir) // here, not in o.Dir
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("creating the test results directory: %w", err)
		}
		o.ResultsDir = dir
	}

	junit := filepath.Join(o.ResultsDir, "junit.xml")
	_ = os.Remove(junit) // a previous run's would hide that gotestsum did not run

	out := r.Writer()
	defer func() { _ = out.Close() }()
	cmd := Command(o, r.Verbose)
	cmd.Stdout = out
	runErr := r.Run(ctx, cmd)
	maskErr := maskXML(junit, r.Redactor)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("tests stopped: %w", context.Cause(ctx))
	case runErr != nil && errors.Is(maskErr, fs.ErrNotExist):
		return fmt.Errorf("gotestsum did not run the tests (see above): %w", runErr)
	case maskErr != nil:
		return maskErr
	case runErr != nil:
		return errors.New("tests failed (see above)")
	}

	report, err := r.Output(ctx, runner.Cmd{
		Name: "go", Args: []string{"tool", "cover", "-func=" + filepath.Join(o.ResultsDir, "coverage.out")}, Dir: o.Dir,
	})
	if err != nil {
		return fmt.Errorf("computing the coverage: %w", err)
	}
	f := strings.Fields(report) // it ends with "total:  (statements)  81.2%"
	if len(f) < 3 || f[len(f)-3] != "total:" {
		return fmt.Errorf("go tool cover -func printed no total:\n%s", report)
	}
	fmt.Fprintf(out, "total coverage: %s of statements\n", f[len(f)-1])
	return nil
}

// maskXML rewrites the XML file at path with red's secrets masked, as they
// are or as XML escapes them, if it shows any: CI keeps junit.xml and
// shows it.
func maskXML(path string, red *redact.Redactor) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if masked := red.XML().String(string(b)); masked != string(b) {
		return os.WriteFile(path, []byte(masked), 0o644) //nolint:gosec // path is junit.xml under TEST_RESULTS_DIR, which the user chose
	}
	return nil
}
