// Package pipeline holds the end-to-end test of the CircleCI pipeline. It
// reads .circleci/config.yml, takes the mage commands of its jobs in the
// order the workflow chains them, and runs them as CircleCI would (the
// command line `go tool mage <targets>` with the job's environment) in a
// committed copy of the work tree, against a real Docker engine, a real
// registry standing in for both Docker Hub and Heroku's registry, the fake
// Heroku Platform API and the fake Sentry API: the proof that the pipeline
// as written passes.
//
// The package has no code of its own: the test is the point.
package pipeline
