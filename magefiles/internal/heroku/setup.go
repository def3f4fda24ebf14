package heroku

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Setup is what EnsureApp found and did.
type Setup struct {
	App       App
	Created   bool     // the app did not exist and was created
	StackSet  bool     // its build stack was switched to container
	OldStack  string   // the stack it was on, when StackSet
	Set       []string // config vars set or changed, sorted
	Unchanged []string // config vars that already had their value, sorted
}

// EnsureApp makes sure the app exists on the container stack and has the
// given config vars: it creates the app, or switches its stack, or sets the
// vars only when needed, so running it again changes nothing. Config var
// values are never part of its result or errors.
func (c *Client) EnsureApp(ctx context.Context, name string, vars map[string]string) (Setup, error) {
	var s Setup
	app, err := c.App(ctx, name)
	switch {
	case IsNotFound(err):
		if app, err = c.CreateApp(ctx, name, ContainerStack); err != nil {
			return s, err
		}
		s.Created = true
	case err != nil:
		return s, err
	case !app.IsContainer():
		s.OldStack = app.Stack
		if app, err = c.SetBuildStack(ctx, name, ContainerStack); err != nil {
			return s, fmt.Errorf("switching app %s to the container stack: %w", name, err)
		}
		s.StackSet = true
	}
	s.App = app

	if len(vars) == 0 {
		return s, nil
	}
	current, err := c.ConfigVars(ctx, name)
	if err != nil {
		return s, err
	}
	changed := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if v, ok := current[k]; ok && v == vars[k] {
			s.Unchanged = append(s.Unchanged, k)
		} else {
			changed[k] = vars[k]
			s.Set = append(s.Set, k)
		}
	}
	if len(changed) > 0 {
		if err := c.SetConfigVars(ctx, name, changed); err != nil {
			return s, fmt.Errorf("setting the config vars %v of app %s: %w", s.Set, name, err)
		}
	}
	return s, nil
}
