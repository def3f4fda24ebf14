//go:build mage

package main

import (
	"context"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/lint"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Lint runs golangci-lint, shellcheck and a CircleCI config check; any finding fails.
//
// golangci-lint is the version pinned in tools/go.mod, with the settings in
// .golangci.yml, magefiles included; its first run compiles it, which takes
// a minute or two. shellcheck checks every shell script and must be
// installed (apt-get install shellcheck). .circleci/config.yml is checked
// against CircleCI's JSON schema, then against the project's own rules:
// the jobs workflows run and require exist, the mage targets the steps
// call exist, and test-and-lint → build-and-push → deploy are chained, the
// last two on main or master only. The schema is the copy CIRCLECI_SCHEMA
// names or, unset, a pinned version downloaded once into the user's cache
// directory; without a network and without CIRCLECI_SCHEMA, the schema
// check is skipped with a notice.
func Lint(ctx context.Context) error {
	vals, err := load(settings.Lint)
	if err != nil {
		return err
	}
	return lint.Run(ctx, newRunner(), ".", vals.Get(settings.CircleCISchema))
}
