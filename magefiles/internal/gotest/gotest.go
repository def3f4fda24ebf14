// Package gotest runs the project's Go tests and reports them the way a
// person and CircleCI each want: a short summary on success, the output of
// every failing test on failure, and, when asked, JUnit XML and a coverage
// profile in a results directory.
package gotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Options say what to test and where the results go.
type Options struct {
	Dir        string        // module root; empty means the current directory
	Packages   []string      // package patterns; empty means ./...
	Race       bool          // run with the race detector
	Timeout    time.Duration // per test binary; zero means go test's default
	ResultsDir string        // where junit.xml and coverage.out go; empty means a temporary directory
}

// Command returns the go test command for o, writing the coverage profile to
// profile.
func Command(o Options, profile string) runner.Cmd {
	args := []string{"test", "-json", "-covermode=atomic", "-coverprofile=" + profile}
	if o.Race {
		args = append(args, "-race")
	}
	if o.Timeout > 0 {
		args = append(args, "-timeout="+o.Timeout.String())
	}
	pkgs := o.Packages
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	return runner.Cmd{Name: "go", Args: append(args, pkgs...), Dir: o.Dir}
}

// Run runs the tests and writes the report where r shows output, masking
// r's secrets; when r is verbose, every test's output is shown live too. It
// returns an error when any test or package fails.
func Run(ctx context.Context, r *runner.Runner, o Options) (*Report, error) {
	dir := o.ResultsDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "oc-lettings-test-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the test results directory: %w", err)
	}
	profile := filepath.Join(dir, "coverage.out")

	shown := r.Out
	if shown == nil {
		shown = os.Stdout // as the runner does
	}
	out := r.Redactor.Writer(shown)
	defer func() { _ = out.Close() }()

	report := NewReport()
	var live io.Writer
	if r.Verbose {
		live = out
	}
	events := report.Writer(live)
	cmd := Command(o, profile)
	cmd.Stdout = events
	start := time.Now()
	runErr := r.Run(ctx, cmd)
	_ = events.Close()
	report.Elapsed = time.Since(start)

	if total, err := coverageTotal(ctx, r, o.Dir, profile); err == nil {
		report.Coverage = total
	}
	if o.ResultsDir != "" {
		if err := report.WriteJUnitFile(filepath.Join(dir, "junit.xml"), r.Redactor); err != nil {
			return report, err
		}
	}
	report.Print(out)

	switch {
	case ctx.Err() != nil:
		return report, fmt.Errorf("tests stopped: %w", context.Cause(ctx))
	case report.Failed():
		return report, errors.New("tests failed (see above)")
	case runErr != nil: // go test itself failed, e.g. a bad flag or a vet error
		return report, fmt.Errorf("go test: %w", runErr)
	}
	return report, nil
}

// coverageTotal returns the "total:" percentage that go tool cover prints.
func coverageTotal(ctx context.Context, r *runner.Runner, dir, profile string) (string, error) {
	if _, err := os.Stat(profile); err != nil {
		return "", err
	}
	out, err := r.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "cover", "-func=" + profile}, Dir: dir})
	if err != nil {
		return "", err
	}
	lines := strings.Split(out, "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(fields) == 0 || fields[0] != "total:" {
		return "", errors.New("no total in coverage report")
	}
	return fields[len(fields)-1], nil
}
