//go:build mage

package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runlocal"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Run compiles the site and runs it natively, without Docker, until Ctrl-C.
//
// The site listens on PORT (default 8000) and reads its settings from the
// environment: SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_TRACES_SAMPLE_RATE,
// SENTRY_DEBUG_ROUTE and SECURE_SSL_REDIRECT (see README.md).
func Run(ctx context.Context) error {
	vals, err := load(settings.Run)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(vals.Get(settings.Port)) // load checked it
	if err := runlocal.CheckPort(ctx, port); err != nil {
		return err
	}
	r := newRunner()
	bin, version, err := buildSite(ctx, r)
	if err != nil {
		return err
	}
	fmt.Printf("OC Lettings %s on http://localhost:%d/ (Ctrl-C stops it)\n", version, port)
	out := r.Writer() // the site's log, live; its standard error is shown if it fails
	defer func() { _ = out.Close() }()
	if err := r.Run(ctx, runner.Cmd{Name: "./" + bin, Stdout: out}); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the site stopped: %w", err)
	}
	return nil
}
