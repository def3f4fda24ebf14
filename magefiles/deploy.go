//go:build mage

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Deploy releases this commit's image on Heroku or AWS, undone unless /healthz reports it.
//
// It needs DOCKERHUB_USERNAME, a clean work tree and no Docker engine. It
// never rebuilds: it copies the image <user>/<IMAGE_NAME>:<git commit>
// that mage push (or CI's build-and-push job) pushed to Docker Hub or
// DOCKER_REGISTRY (with DOCKERHUB_PASS when set, for a private image)
// straight to the platform's registry, taking the linux/amd64 image of a
// multi-platform one. DEPLOY_PLATFORM chooses the platform:
//
// heroku (the default) needs HEROKU_API_KEY and HEROKU_APP_NAME. The image
// goes to HEROKU_REGISTRY (default registry.heroku.com) as user _ with the
// key as the password, in the Docker v2 schema 2 Heroku wants; the
// preflight checks that the app is a Cedar app on the container stack; the
// release is followed through the Platform API at HEROKU_API_URL until its
// release phase ends (mage -v shows its output).
//
// aws needs AWS_REGION, ECS_SERVICE_NAME and AWS credentials: the SDK's
// chain (keys, AWS_PROFILE, SSO), or AWS_ROLE_ARN with CircleCI's
// CIRCLE_OIDC_TOKEN_V2. The preflight checks the ECR repository and the
// roles mage aws:create makes; the image goes to ECR_REPOSITORY (default
// IMAGE_NAME); the first deploy creates the ECS Express service (port
// 8000, health check /healthz, SENTRY_DSN and SENTRY_ENVIRONMENT when set),
// later ones update its image by digest; the service deployment is
// followed to its end. AWS_ENDPOINT_URL points the SDK at an emulator.
//
// Either way, a preflight bounded to a minute comes first, and after the
// release the app's /healthz (or DEPLOY_HEALTH_URL) must report the commit
// within two minutes (five on AWS). If the release fails or that check never passes,
// the app is rolled back to what it ran before and the deploy fails. On
// Ctrl-C or SIGTERM it starts the rollback within mage's 5 seconds, or
// prints the command to run. When SENTRY_AUTH_TOKEN, SENTRY_ORG and
// SENTRY_PROJECT are set, the Sentry release is created and a deploy to
// SENTRY_ENVIRONMENT recorded at SENTRY_URL; a failure there only warns.
func Deploy(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	vals, err := load(settings.Deploy)
	if err != nil {
		return err
	}
	r := newRunner()
	info, err := gitinfo.Read(ctx, r, "")
	if err != nil {
		return err
	}
	if info.Dirty {
		return errors.New("the work tree has changes not committed that can reach the image: deploy releases the image " +
			"built for a commit, so commit them (and let CI build and push) or set them aside with git stash -u, then deploy again")
	}
	out := r.Writer()
	defer func() { _ = out.Close() }()
	cfg := deploy.Config{
		Commit:  info.Commit,
		Version: info.Version,
		Source: registry.Image{
			Ref:  imageRepository(vals) + ":" + info.Commit,
			User: vals.Get(settings.DockerHubUser), Password: vals.Get(settings.DockerHubPass),
		},
		HealthURL:         vals.Get(settings.HealthURL),
		SentryEnvironment: vals.Get(settings.SentryEnvironment),
		Out:               out,
	}
	tracking := sentryrelease.Config{
		URL: vals.Get(settings.SentryURL), Token: vals.Get(settings.SentryAuthToken),
		Org: vals.Get(settings.SentryOrg), Project: vals.Get(settings.SentryProject),
	}
	switch missing := tracking.Missing(); len(missing) {
	case 0:
		cfg.Sentry, _ = sentryrelease.New(tracking)
	case 1, 2:
		cfg.Notes = append(cfg.Notes, "Sentry release tracking is off: "+strings.Join(missing, ", ")+" not set")
	}
	var platform deploy.Platform
	if vals.Get(settings.DeployPlatform) == settings.AWS {
		platform, err = aws.NewPlatform(ctx, vals, out)
		// A new service's load balancer and DNS name can take minutes to answer.
		cfg.HealthTimeout = 5 * time.Minute
	} else {
		platform, err = herokuPlatform(vals, out)
	}
	if err != nil {
		return r.Redactor.Error(err)
	}
	_, err = deploy.Run(ctx, platform, cfg)
	return r.Redactor.Error(err)
}

// herokuPlatform is Heroku as the settings describe it.
func herokuPlatform(vals settings.Values, out io.Writer) (*heroku.Platform, error) {
	client, err := herokuClient(vals, func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) })
	if err != nil {
		return nil, err
	}
	return &heroku.Platform{
		Client:   client,
		App:      vals.Get(settings.HerokuAppName),
		Registry: vals.Get(settings.HerokuRegistry),
		APIKey:   vals.Get(settings.HerokuAPIKey),
		Out:      out,
		Verbose:  mg.Verbose(),
	}, nil
}

// herokuClient is the Platform API client the settings describe.
func herokuClient(vals settings.Values, logf func(string, ...any)) (*heroku.Client, error) {
	return heroku.New(heroku.Config{
		APIURL: vals.Get(settings.HerokuAPIURL),
		APIKey: vals.Get(settings.HerokuAPIKey),
		Logf:   logf,
	})
}

// imageRepository is the repository of the site's image:
// <user>/<IMAGE_NAME> on Docker Hub or DOCKER_REGISTRY, or <IMAGE_NAME>
// alone, a local image, without DOCKERHUB_USERNAME.
func imageRepository(vals settings.Values) string {
	return registry.Repository(vals.Get(settings.DockerRegistry), vals.Get(settings.DockerHubUser), vals.Get(settings.ImageName))
}
