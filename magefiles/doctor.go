//go:build mage

package main

import (
	"context"
	"os"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/doctor"
)

// Doctor checks that this machine and its environment are ready to run the pipeline, and prints a table with a fix for each problem.
//
// It checks the Go toolchain against go.mod, the Docker engine (and which
// engine and API version answer), the git checkout, the tools the tests and
// linters need, and every environment variable a stage reads: whether it is
// set, never its value. By default it checks every stage; -stage=test,
// build, push or deploy (or a comma-separated list) checks those only, as a
// failing CircleCI job does. With -online it also logs in to DOCKER_REGISTRY
// with DOCKERHUB_USERNAME and DOCKERHUB_PASS and to HEROKU_REGISTRY with
// HEROKU_API_KEY, asks the Heroku API (HEROKU_API_URL) whether the key is
// accepted, and checks that HEROKU_APP_NAME exists on the container stack.
// It fails when something a requested stage needs is missing.
func Doctor(ctx context.Context,
	stage *string, // test, build, push, deploy, a comma-separated list, or all (the default)
	online *bool, // also ask the registries and Heroku whether they accept the credentials
) error {
	stages, err := doctor.ParseStages(value(stage))
	if err != nil {
		return err
	}
	report := doctor.New(newRunner(), ".").Run(ctx, stages, online != nil && *online)
	report.Print(os.Stdout)
	return report.Err()
}

// value returns what an optional string argument holds, "" when absent.
func value(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
