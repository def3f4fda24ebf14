//go:build mage

package main

import (
	"context"
	"runtime"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gotest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Test runs every Go test with the race detector; prints a summary with the coverage.
//
// gotestsum (pinned in tools/go.mod) prints a line per package, then the
// output of every skipped and failed test, and a summary; with -v it shows
// every test's output as it runs. Test binaries run two per CPU, since the
// integration tests mostly wait on the engine, and without the race
// detector's second of sleep at exit; each may run 20 minutes.
//
// Integration tests use a real Docker engine (DOCKER_HOST or the default
// socket) and Debian's docker-registry, which .ci/setup installs and starts
// on Debian or Ubuntu. Without them those tests are skipped and the reason
// is shown; when CI is set they fail instead.
//
// When TEST_RESULTS_DIR is set, junit.xml and coverage.out are written
// there, for CircleCI's store_test_results; otherwise they go to a
// temporary directory, removed afterwards.
func Test(ctx context.Context) error {
	vals, err := load(settings.Test)
	if err != nil {
		return err
	}
	return gotest.Run(ctx, newRunner(), gotest.Options{
		Race:       true,
		Timeout:    20 * time.Minute,
		Parallel:   2 * runtime.NumCPU(), // the integration tests mostly wait on the engine
		ResultsDir: vals.Get(settings.TestResultsDir),
	})
}
