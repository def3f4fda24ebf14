//go:build mage

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Heroku prepares the Heroku app the site is deployed to.
type Heroku mg.Namespace

// Create sets up HEROKU_APP_NAME on Heroku's container stack, with its config vars.
//
// It creates the app, or switches an existing one to the container stack.
// It needs HEROKU_API_KEY (heroku authorizations:create makes one) and
// talks to HEROKU_API_URL (default https://api.heroku.com); it needs no
// Docker. It gives the app SENTRY_DSN when that is set here, and with it
// SENTRY_ENVIRONMENT (default production), or SENTRY_ENVIRONMENT alone when
// only that is set, printing their names, never their values. Running it
// again changes nothing: an existing app is kept, and config vars that
// already have their value are left alone.
func (Heroku) Create(ctx context.Context) error {
	vals, err := load(settings.HerokuCreate)
	if err != nil {
		return err
	}
	client, err := herokuClient(vals, nil)
	if err != nil {
		return err
	}
	name := vals.Get(settings.HerokuAppName)
	s, err := client.EnsureApp(ctx, name, vals.SiteSentry())
	if err != nil {
		return newRunner().Redactor.Error(err)
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
