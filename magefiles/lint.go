//go:build mage

package main

import (
	"context"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/lint"
)

// Lint runs golangci-lint, shellcheck and the offline CircleCI config check; any finding fails it.
//
// golangci-lint is the version pinned in tools/go.mod, with the settings in
// .golangci.yml, magefiles included; its first run compiles it, which takes
// a minute or two. shellcheck checks every shell script and must be
// installed (apt-get install shellcheck). .circleci/config.yml is checked
// against CircleCI's JSON schema, found at CIRCLECI_SCHEMA (default
// ../shared/circleci/schema.json; skipped with a notice when that default is
// absent), and against the project's own rules: jobs, requires, branch
// filters, and the mage targets it calls.
func Lint(ctx context.Context) error {
	return lint.Run(ctx, newRunner(), ".")
}
