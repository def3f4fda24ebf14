//go:build mage

package main

import (
	"context"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/lint"
)

// Lint runs golangci-lint (the version pinned in tools/go.mod, settings in
// .golangci.yml, magefiles included) and shellcheck on every shell script;
// any finding fails it.
//
// The first run compiles golangci-lint, which takes a minute or two.
// shellcheck must be installed (apt-get install shellcheck).
func Lint(ctx context.Context) error {
	return lint.Run(ctx, newRunner(), ".")
}
