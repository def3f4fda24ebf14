// Package loadtest measures the built app under load with wrk: time from
// process start to the first 200, requests per second and 99th percentile
// latency for a set of URLs, and the server's peak memory; and compares them
// with the project's performance goals.
//
// It needs wrk (Debian package wrk) and Linux's /proc.
package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// The wrk settings: DefaultDuration when Options.Duration is zero, and the
// connections and threads every load test uses.
const (
	DefaultDuration    = 5 * time.Second
	DefaultConnections = 64
	DefaultThreads     = 2
)

// Options configures a load test.
type Options struct {
	// Binary is the path to the built app. Required.
	Binary string
	// Duration is how long wrk loads each URL, in whole seconds; default 5s.
	Duration time.Duration
	// Wrk is the wrk executable, looked up in PATH; default "wrk".
	Wrk string
	// Runner runs wrk; nil means a quiet runner that replays wrk's output
	// to standard output when it fails.
	Runner *runner.Runner
}

// Target is a URL path to load, and the status its responses should have.
type Target struct {
	Name   string
	Path   string
	Status int
}

// Result is the measure of one target.
type Result struct {
	Target
	WrkResult
}

// Report is the outcome of a load test.
type Report struct {
	// Duration, Connections and Threads are the wrk settings used.
	Duration    time.Duration
	Connections int
	Threads     int
	// StartToFirst200 is the time from starting the process to its first
	// 200 response on /healthz.
	StartToFirst200 time.Duration
	// PeakRSS is the server's peak resident set size (VmHWM) in bytes, read
	// after the last run.
	PeakRSS int64
	// Results holds one entry per target, in order.
	Results []Result
}

// Paths of the targets that do not depend on the build.
const (
	LettingsPath = "/lettings/"
	NotFoundPath = "/this-page-does-not-exist/"
)

// reStylesheet finds the hashed stylesheet URL in the home page.
var reStylesheet = regexp.MustCompile(`href="(/static/css/site\.[0-9a-f]+\.css)"`)

// Run starts the app, with only PORT in its environment (so a developer's
// SENTRY_DSN is not used), measures its start-up, loads each target in turn,
// reads its peak memory, and stops it. The server is stopped however Run
// ends, including when ctx is cancelled.
func Run(ctx context.Context, opts Options) (report Report, err error) {
	if opts.Binary == "" {
		return Report{}, errors.New("loadtest: no app binary given")
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		return Report{}, fmt.Errorf("loadtest: app binary: %w", err)
	}
	wrk, err := findWrk(opts.Wrk)
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: %w", err)
	}
	run := cmp.Or(opts.Runner, &runner.Runner{})
	report = Report{
		Duration:    cmp.Or(opts.Duration, DefaultDuration),
		Connections: DefaultConnections,
		Threads:     DefaultThreads,
	}

	srv, startup, err := startServer(ctx, opts.Binary, nil)
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: %w", err)
	}
	defer func() {
		if stopErr := srv.stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("loadtest: %w", stopErr))
		}
	}()
	report.StartToFirst200 = startup

	home, err := srv.get(ctx, "/")
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: %w", err)
	}
	m := reStylesheet.FindStringSubmatch(home)
	if m == nil {
		return Report{}, errors.New("loadtest: no hashed stylesheet link in the home page")
	}
	targets := []Target{
		{"home", "/", 200},
		{"lettings", LettingsPath, 200},
		{"letting", "/lettings/1/", 200},
		{"stylesheet", m[1], 200},
		{"not found", NotFoundPath, 404},
	}
	for _, t := range targets {
		args := wrkArgs(srv.base+t.Path, report.Threads, report.Connections, report.Duration)
		r, err := runWrk(ctx, run, wrk, args)
		if err != nil {
			return Report{}, fmt.Errorf("loadtest: %s: %w", t.Path, err)
		}
		report.Results = append(report.Results, Result{Target: t, WrkResult: r})
	}
	if report.PeakRSS, err = srv.peakRSS(); err != nil {
		return Report{}, fmt.Errorf("loadtest: %w", err)
	}
	return report, nil
}
