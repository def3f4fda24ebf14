//go:build mage

package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/loadtest"
)

// Bench loads the site over loopback with wrk and checks the performance goals.
//
// It compiles the site, starts it on a free port, measures the time from
// process start to the first 200, then runs wrk (64 keep-alive connections,
// 2 threads, 5 s each) on /, /lettings/, /lettings/1/, the hashed stylesheet
// and a 404, and reads the server's peak memory. It prints requests per
// second and p99 latency per URL, and fails when a goal is missed: at least
// 40,000 requests/s with p99 under 15 ms on /lettings/, peak RSS under 30 MB,
// first 200 within 50 ms. Needs wrk (apt-get install wrk) and Linux.
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
	passed, err := report.Print(os.Stdout, loadtest.DefaultGoals)
	if err != nil {
		return err
	}
	if !passed {
		return errors.New("performance goals missed (see FAIL above); close other busy programs and run again before digging in")
	}
	fmt.Println("all performance goals met")
	return nil
}
