//go:build mage

package main

import (
	"context"
	"os"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/doctor"
)

// Doctor checks that this machine and environment are ready; prints a fix per problem.
//
// It checks the Go toolchain against go.mod, the Docker engine (which
// engine and API version answer; build and push need one, the tests run
// their integration part with it, deploy does without), the git checkout,
// the tools the tests and linters need, and every environment variable a
// stage reads, as the settings catalogue describes it: set, unset (and what
// that means) or invalid, never a secret's value. It fails when something
// a requested stage needs is missing or invalid.
//
// By default it checks every stage; -stage=test, build, push or deploy (or
// a comma-separated list) checks those only, as a failing CircleCI job
// does. With -online it also asks DOCKER_REGISTRY whether
// DOCKERHUB_USERNAME and DOCKERHUB_PASS may push the image, and
// HEROKU_REGISTRY whether it takes HEROKU_API_KEY (with no Docker engine),
// asks the Heroku API (HEROKU_API_URL) whether the key is accepted, and
// checks that HEROKU_APP_NAME exists, is a Cedar app and is on the
// container stack. Each online check gives up after 20s.
func Doctor(ctx context.Context,
	stage *string, // test, build, push, deploy, a comma-separated list, or all (the default)
	online *bool, // also ask the registries and Heroku whether they accept the credentials
) error {
	list := ""
	if stage != nil {
		list = *stage
	}
	stages, err := doctor.ParseStages(list)
	if err != nil {
		return err
	}
	report := doctor.New(newRunner(), ".").Run(ctx, stages, online != nil && *online)
	report.Print(os.Stdout)
	return report.Err()
}
