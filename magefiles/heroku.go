//go:build mage

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Heroku prepares the Heroku app the site is deployed to.
type Heroku mg.Namespace

// Create creates the Heroku app HEROKU_APP_NAME on the container stack (or switches an existing one) and sets the config vars the site needs.
//
// It needs HEROKU_API_KEY (heroku authorizations:create makes one) and
// talks to HEROKU_API_URL (default https://api.heroku.com); it needs no
// Docker. It gives the app SENTRY_DSN when that is set here, and with it
// SENTRY_ENVIRONMENT (default production), or SENTRY_ENVIRONMENT alone when
// only that is set, printing their names, never their values. Running it
// again changes nothing: an existing app is kept, and config vars that
// already have their value are left alone.
func (Heroku) Create(ctx context.Context) error {
	env := settings.OS
	name, cfg, err := heroku.FromEnv(env)
	if err != nil {
		return err
	}
	s, err := heroku.New(cfg).EnsureApp(ctx, name, deploy.AppConfigVars(env))
	if err != nil {
		return redact.New(settings.Secrets(env)...).Error(err)
	}
	switch {
	case s.Created:
		fmt.Printf("created app %s on the container stack\n", name)
	case s.StackSet:
		fmt.Printf("app %s switched from the %s stack to container, from its next release\n", name, s.OldStack)
	default:
		fmt.Printf("app %s exists on the container stack\n", name)
	}
	if len(s.Set) > 0 {
		fmt.Printf("config vars set: %s\n", strings.Join(s.Set, ", "))
	}
	if len(s.Unchanged) > 0 {
		fmt.Printf("config vars already set: %s\n", strings.Join(s.Unchanged, ", "))
	}
	fmt.Printf("deploy to it with mage deploy; it will answer at %s\n", s.App.WebURL)
	return nil
}
