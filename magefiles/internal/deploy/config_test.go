package deploy_test

import (
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

var clean = gitinfo.Info{Commit: newCommit, Version: "v1.3.0"}

func TestFromEnvReportsEveryMissingVariable(t *testing.T) {
	_, err := deploy.FromEnv(settings.Map(map[string]string{"DOCKERHUB_PASS": hubPassword}), clean)
	if err == nil {
		t.Fatal("no error without HEROKU_API_KEY and HEROKU_APP_NAME")
	}
	contains(t, "the error", err.Error(), "missing 2 environment variables", "HEROKU_API_KEY", "HEROKU_APP_NAME")
	if strings.Contains(err.Error(), hubPassword) {
		t.Error("the error shows a secret")
	}
}

func TestFromEnvRefusesADirtyTree(t *testing.T) {
	env := settings.Map(map[string]string{"HEROKU_API_KEY": apiKey, "HEROKU_APP_NAME": app})
	dirty := clean
	dirty.Dirty = true
	_, err := deploy.FromEnv(env, dirty)
	if err == nil {
		t.Fatal("a dirty tree was accepted")
	}
	contains(t, "the error", err.Error(), "uncommitted changes", "commit", "stash")
}

func TestFromEnvRefusesABadAppName(t *testing.T) {
	env := settings.Map(map[string]string{"HEROKU_API_KEY": apiKey, "HEROKU_APP_NAME": "My App"})
	if _, err := deploy.FromEnv(env, clean); err == nil || !strings.Contains(err.Error(), "not a Heroku app name") {
		t.Errorf("err = %v, want the app name refused", err)
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		image string
		pull  docker.Auth
		notes []string
		check func(t *testing.T, cfg deploy.Config)
	}{
		{
			name:  "Docker Hub with credentials, production endpoints",
			env:   map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_PASS": hubPassword},
			image: "alice/oc-lettings:" + newCommit,
			pull:  docker.Auth{Username: "alice", Password: hubPassword, ServerAddress: "docker.io"},
			check: func(t *testing.T, cfg deploy.Config) {
				if cfg.APIURL != "https://api.heroku.com" || cfg.HerokuRegistry != "registry.heroku.com" || cfg.HealthURL != "" {
					t.Errorf("endpoints = %s %s %q, want Heroku's, and the app's web_url for the health check", cfg.APIURL, cfg.HerokuRegistry, cfg.HealthURL)
				}
				if cfg.Sentry.Enabled() {
					t.Error("Sentry tracking on without its variables")
				}
			},
		},
		{
			name:  "another registry and image name, overrides for tests",
			env:   map[string]string{"DOCKERHUB_USERNAME": "alice", "DOCKER_REGISTRY": "ghcr.io", "IMAGE_NAME": "site", "HEROKU_API_URL": "http://127.0.0.1:1", "HEROKU_REGISTRY": "127.0.0.1:2", "DEPLOY_HEALTH_URL": "http://127.0.0.1:3/healthz"},
			image: "ghcr.io/alice/site:" + newCommit,
			pull:  docker.Auth{}, // no password: anonymous
			check: func(t *testing.T, cfg deploy.Config) {
				if cfg.APIURL != "http://127.0.0.1:1" || cfg.HerokuRegistry != "127.0.0.1:2" || cfg.HealthURL != "http://127.0.0.1:3/healthz" {
					t.Errorf("overrides not taken: %+v", cfg)
				}
			},
		},
		{
			name:  "no Docker Hub account: the local image",
			env:   map[string]string{},
			image: "oc-lettings:" + newCommit,
		},
		{
			name:  "Sentry tracking",
			env:   map[string]string{"SENTRY_AUTH_TOKEN": sentryToken, "SENTRY_ORG": "acme", "SENTRY_PROJECT": "oc"},
			image: "oc-lettings:" + newCommit,
			check: func(t *testing.T, cfg deploy.Config) {
				if !cfg.Sentry.Enabled() || cfg.Sentry.URL != "https://sentry.io/" || cfg.SentryEnvironment != "production" {
					t.Errorf("Sentry = %+v, environment %q", cfg.Sentry, cfg.SentryEnvironment)
				}
			},
		},
		{
			name:  "Sentry half configured",
			env:   map[string]string{"SENTRY_AUTH_TOKEN": sentryToken},
			image: "oc-lettings:" + newCommit,
			notes: []string{"Sentry release tracking is off: SENTRY_ORG, SENTRY_PROJECT not set"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HEROKU_API_KEY": apiKey, "HEROKU_APP_NAME": app}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := deploy.FromEnv(settings.Map(env), clean)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Image != tc.image || cfg.PullAuth != tc.pull || cfg.App != app || cfg.APIKey != apiKey || cfg.Commit != newCommit {
				t.Errorf("config = image %q pull %+v app %q commit %q; want image %q pull %+v", cfg.Image, cfg.PullAuth, cfg.App, cfg.Commit, tc.image, tc.pull)
			}
			equal(t, "notes", cfg.Notes, tc.notes)
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestAppConfigVars(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, ""},
		{map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/2"}, "SENTRY_DSN=https://k@o1.ingest.sentry.io/2 SENTRY_ENVIRONMENT=production"},
		{map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/2", "SENTRY_ENVIRONMENT": "staging"}, "SENTRY_DSN=https://k@o1.ingest.sentry.io/2 SENTRY_ENVIRONMENT=staging"},
		{map[string]string{"SENTRY_ENVIRONMENT": "staging"}, "SENTRY_ENVIRONMENT=staging"},
	} {
		vars := deploy.AppConfigVars(settings.Map(tc.env))
		var got []string
		for _, k := range []string{"SENTRY_DSN", "SENTRY_ENVIRONMENT"} {
			if v, ok := vars[k]; ok {
				got = append(got, k+"="+v)
			}
		}
		if strings.Join(got, " ") != tc.want || len(vars) != len(got) {
			t.Errorf("AppConfigVars(%v) = %v, want %s", tc.env, vars, tc.want)
		}
	}
}
