// Package deploy releases the site on Heroku: the image built and pushed
// for the current commit, never a rebuild.
//
// A deploy checks everything it can before any slow work (the variables,
// the API key, the app and its stack), finds the image for the commit
// (pulling it when the engine lacks it, as on a fresh CI executor), pushes
// it to Heroku's registry, releases it through the Platform API, follows
// the release to its end, and checks that the app's /healthz reports the
// commit. When the release fails or the check never passes, it rolls the
// app back to the release that was current before and says so; when it is
// interrupted, it rolls back within the few seconds mage allows, or prints
// the command that does. Sentry is then told about the release, when
// configured; a Sentry failure is only a warning.
package deploy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/image"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Production waits. Heroku gives a dyno 60 s to bind $PORT, so the health
// check waits longer than that.
const (
	DefaultReleaseTimeout = 10 * time.Minute
	DefaultHealthTimeout  = 2 * time.Minute
	DefaultPollInterval   = 2 * time.Second
	// DefaultRollbackWindow is the time an interrupted deploy takes to
	// roll back: mage waits 5 s for a target after Ctrl-C.
	DefaultRollbackWindow = 4 * time.Second
)

// Config is what a deploy needs to know.
type Config struct {
	App    string // Heroku app (HEROKU_APP_NAME)
	APIURL string // Platform API (HEROKU_API_URL)
	APIKey string // Heroku API key (HEROKU_API_KEY), also the registry's password

	Commit   string      // the commit to deploy: the image's tag, and what /healthz must report
	Version  string      // git describe of the commit, used when /healthz gives none
	Image    string      // repository:tag of the image built for Commit
	PullAuth docker.Auth // credentials for Image's registry; empty for an anonymous pull

	HerokuRegistry string // Heroku's registry (HEROKU_REGISTRY)
	// HealthURL is the URL checked for the new commit (DEPLOY_HEALTH_URL);
	// empty means the app's web_url + healthz.
	HealthURL string

	Sentry            sentryrelease.Config // release tracking, when Sentry.Enabled()
	SentryEnvironment string               // the environment the deploy is recorded for

	// Waits; zero means the Default.
	ReleaseTimeout time.Duration // for the release phase, and for a rollback
	HealthTimeout  time.Duration // for /healthz to report the commit
	PollInterval   time.Duration // between polls of the release and of /healthz
	RollbackWindow time.Duration // to roll back after an interruption
	Stream         heroku.Stream // how the release phase output is read
	// Retry bounds the Platform API's retries; zero fields take the
	// heroku package's defaults.
	Retry heroku.RetryPolicy

	// Notes are things the user should know before the deploy starts,
	// such as half-configured Sentry tracking.
	Notes []string
}

func (c Config) withDefaults() Config {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&c.ReleaseTimeout, DefaultReleaseTimeout)
	set(&c.HealthTimeout, DefaultHealthTimeout)
	set(&c.PollInterval, DefaultPollInterval)
	set(&c.RollbackWindow, DefaultRollbackWindow)
	return c
}

// FromEnv returns the Config for deploying the commit info describes,
// with the variables env sets. Every missing variable is reported at once.
// A work tree with uncommitted changes is refused: the image for its commit
// would not be what the tree holds.
func FromEnv(env settings.Env, info gitinfo.Info) (Config, error) {
	app, api, err := heroku.FromEnv(env)
	if err != nil {
		return Config{}, err
	}
	if info.Commit == "" {
		return Config{}, errors.New("no git commit to deploy: run mage deploy in the repository's checkout")
	}
	if info.Dirty {
		return Config{}, errors.New("the work tree has uncommitted changes: deploy releases the image built for a commit, " +
			"so commit (and let CI build and push) or stash them, then run mage deploy again")
	}
	cfg := Config{
		App:    app,
		APIURL: api.APIURL,
		APIKey: api.APIKey,
		Commit: info.Commit, Version: info.Version,
		Image:             image.WhereFromEnv(env).NamesFor(info).Commit, // what mage push pushed
		PullAuth:          image.AuthFromEnv(env),
		HerokuRegistry:    settings.HerokuRegistry.Get(env),
		HealthURL:         settings.HealthURL.Get(env),
		Sentry:            sentryrelease.FromEnv(env),
		SentryEnvironment: settings.SentryEnvironment.Get(env),
	}
	if cfg.PullAuth.Username == "" || cfg.PullAuth.Password == "" {
		cfg.PullAuth = docker.Auth{} // pull anonymously, a public image
	}
	if set, unset := cfg.Sentry.Settings(); len(set) > 0 && len(unset) > 0 {
		cfg.Notes = append(cfg.Notes, fmt.Sprintf("Sentry release tracking is off: %s not set", strings.Join(unset, ", ")))
	}
	return cfg, nil
}

// AppConfigVars returns the config vars mage heroku:create gives the app,
// from env: SENTRY_DSN when set, and with it SENTRY_ENVIRONMENT (default
// production); SENTRY_ENVIRONMENT alone when it is set explicitly.
func AppConfigVars(env settings.Env) map[string]string {
	vars := map[string]string{}
	if settings.SentryDSN.IsSet(env) {
		vars[settings.SentryDSN.Name] = settings.SentryDSN.Get(env)
	}
	if settings.SentryDSN.IsSet(env) || settings.SentryEnvironment.IsSet(env) {
		vars[settings.SentryEnvironment.Name] = settings.SentryEnvironment.Get(env)
	}
	return vars
}
