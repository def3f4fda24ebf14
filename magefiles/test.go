//go:build mage

package main

import (
	"context"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gotest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Test runs every Go test with the race detector and prints a summary with
// the coverage.
//
// Integration tests use a real Docker engine (DOCKER_HOST or the default
// socket) and Debian's docker-registry, which .ci/setup installs and starts
// on Debian or Ubuntu. Without them those tests are skipped and the reason
// is shown; when CI is set they fail instead.
//
// When TEST_RESULTS_DIR is set, junit.xml and coverage.out are written
// there, for CircleCI's store_test_results.
func Test(ctx context.Context) error {
	_, err := gotest.Run(ctx, newRunner(), gotest.Options{
		Race:       true,
		Timeout:    20 * time.Minute,
		ResultsDir: settings.TestResultsDir.Get(settings.OS),
	})
	return err
}
