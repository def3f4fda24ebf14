//go:build mage

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Deploy releases on Heroku the image pushed for this commit, checks that /healthz reports that commit, and rolls back if not.
//
// It needs HEROKU_API_KEY and HEROKU_APP_NAME, a clean work tree and a
// running Docker engine. It never rebuilds: it deploys the image
// <user>/<IMAGE_NAME>:<git commit> made by mage push (or by CI's
// build-and-push job), found from DOCKERHUB_USERNAME, DOCKER_REGISTRY and
// IMAGE_NAME, and pulls it with DOCKERHUB_PASS when the engine does not
// have it. The image is pushed to HEROKU_REGISTRY (default
// registry.heroku.com) as user _ with the API key as the password,
// released through the Platform API at HEROKU_API_URL (default
// https://api.heroku.com) and followed until its release phase ends; then
// the app's /healthz (or DEPLOY_HEALTH_URL) must report the commit within
// two minutes. If the release fails or that check never passes, the app is
// rolled back to the release it ran before and the deploy fails. On Ctrl-C
// or SIGTERM it rolls back within mage's 5 seconds, or prints the heroku
// rollback command to run. When SENTRY_AUTH_TOKEN, SENTRY_ORG and
// SENTRY_PROJECT are set, the Sentry release the app reports is created and
// a deploy to SENTRY_ENVIRONMENT (default production) recorded, at
// SENTRY_URL (default https://sentry.io/); a failure there is only a
// warning. It prints one line per step; mage -v also shows push progress
// and the release phase output.
func Deploy(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := newRunner()
	info, err := gitinfo.Read(ctx, r, "")
	if err != nil {
		return err
	}
	cfg, err := deploy.FromEnv(settings.OS, info)
	if err != nil {
		return r.Redactor.Error(err)
	}
	engine, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = engine.Close() }()
	d := deploy.New(cfg, engine, os.Stdout, mg.Verbose())
	d.Redactor = r.Redactor // every secret of the environment, the config's among them
	_, err = d.Run(ctx)
	return err
}
