//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/loadtest"
)

// Bench loads the site with wrk and compares it with a bare net/http server.
//
// It compiles the site, starts it on a free port, measures the time from
// process start to the first 200, then loads /, /lettings/, /lettings/1/,
// the hashed stylesheet (plain and gzip) and a 404 with wrk (64 keep-alive
// connections, 2 threads), each right after the same request on a bare
// net/http server answering a small fixed body (the ceiling), 3 rounds of
// 2 s. It prints requests/s and p99 per URL with their ratios to the
// ceiling's, and fails when a goal is missed: every URL at least 0.85 of
// the ceiling's requests/s with p99 at most 1.5 times its p99, peak RSS
// under 30 MB, first 200 within 50 ms. Ratios, unlike absolute figures,
// hold on a busy machine. Needs wrk (apt-get install wrk) and Linux.
func Bench(ctx context.Context) error {
	r := newRunner()
	bin, _, err := buildSite(ctx, r)
	if err != nil {
		return err
	}
	report, err := loadtest.Run(ctx, loadtest.Options{Binary: bin, Runner: r})
	if err != nil {
		return err
	}
	if failed := report.Print(os.Stdout, loadtest.DefaultGoals); len(failed) > 0 {
		return fmt.Errorf("%d performance goals missed (see FAIL above); close other busy programs and run again before digging in", len(failed))
	}
	return nil
}
