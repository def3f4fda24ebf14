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
	"os/exec"
	"strconv"
	"strings"
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

// Paths loaded that do not depend on the build.
const (
	LettingsPath = "/lettings/"
	NotFoundPath = "/this-page-does-not-exist/"
)

// Options configures a load test.
type Options struct {
	Binary   string         // the path to the built app; required
	Duration time.Duration  // how long wrk loads each URL, in whole seconds; default 5s
	Wrk      string         // the wrk executable, looked up in PATH; default "wrk"
	Runner   *runner.Runner // runs wrk; nil means a quiet one that replays wrk's output when it fails
}

// Result is what wrk measured on one URL path.
type Result struct {
	Path           string        // the URL path loaded
	Status         int           // the status its responses should have
	RequestsPerSec float64       // throughput over the whole run
	P99            time.Duration // 99th percentile of request latency
	Requests       int64         // completed requests
	Non2xx3xx      int64         // responses with a status outside 200-399
	SocketErrors   int64         // connect, read, write and timeout errors
}

// Report is the outcome of a load test.
type Report struct {
	Duration        time.Duration // how long wrk loaded each URL, with DefaultConnections and DefaultThreads
	StartToFirst200 time.Duration // from starting the process to its first 200 on /healthz
	PeakRSS         int64         // the server's peak resident set size (VmHWM) in bytes, after the last run
	Results         []Result      // one per path loaded, in order
}

// Run starts the app, with only PORT in its environment (so a developer's
// SENTRY_DSN is not used), measures its start-up, loads each path in turn,
// reads its peak memory, and stops it. The server is stopped however Run
// ends, including when ctx is cancelled.
func Run(ctx context.Context, opts Options) (report Report, err error) {
	wrk, err := findWrk(opts.Wrk)
	if err != nil {
		return report, err
	}
	srv, startup, err := startServer(ctx, opts.Binary, nil)
	if err != nil {
		return report, err
	}
	defer func() { err = errors.Join(err, srv.stop()) }()
	stylesheet, err := srv.stylesheet(ctx)
	if err != nil {
		return report, err
	}
	report = Report{Duration: cmp.Or(opts.Duration, DefaultDuration), StartToFirst200: startup}
	run := cmp.Or(opts.Runner, &runner.Runner{})
	for _, target := range []Result{
		{Path: "/", Status: 200},
		{Path: LettingsPath, Status: 200},
		{Path: "/lettings/1/", Status: 200},
		{Path: stylesheet, Status: 200},
		{Path: NotFoundPath, Status: 404},
	} {
		args := wrkArgs(srv.base+target.Path, DefaultThreads, DefaultConnections, report.Duration)
		res, err := runWrk(ctx, run, wrk, args)
		if err != nil {
			return report, fmt.Errorf("load %s: %w", target.Path, err)
		}
		res.Path, res.Status = target.Path, target.Status
		report.Results = append(report.Results, res)
	}
	report.PeakRSS, err = srv.peakRSS()
	return report, err
}

// ErrWrkMissing is returned, wrapped, when the wrk executable cannot be found.
var ErrWrkMissing = errors.New("wrk not found: install wrk: apt-get install wrk")

// ParseWrk reads the measures in the report wrk prints when run with
// --latency, line by line. A report without requests is an error too.
func ParseWrk(output string) (Result, error) {
	var r Result
	for line := range strings.Lines(output) {
		line = strings.TrimSpace(line)
		f := strings.Fields(line)
		var err error
		switch {
		case len(f) < 2: // no line wanted
		case f[0] == "Requests/sec:": // "Requests/sec:  71942.37"
			r.RequestsPerSec, err = strconv.ParseFloat(f[1], 64)
		case f[0] == "99%": // "99%    9.88ms": wrk's units (us, ms, s, m, h) are Go's
			r.P99, err = time.ParseDuration(f[1])
		case f[1] == "requests": // "72060 requests in 1.00s, 161.22MB read"
			r.Requests, err = strconv.ParseInt(f[0], 10, 64)
		case f[0] == "Non-2xx": // only when there were some
			_, err = fmt.Sscanf(line, "Non-2xx or 3xx responses: %d", &r.Non2xx3xx)
		case f[0] == "Socket": // only when there were some
			var c, rd, w, t int64
			_, err = fmt.Sscanf(line, "Socket errors: connect %d, read %d, write %d, timeout %d", &c, &rd, &w, &t)
			r.SocketErrors = c + rd + w + t
		}
		if err != nil {
			return r, fmt.Errorf("wrk output line %q: %w", line, err)
		}
	}
	if r.Requests == 0 || r.RequestsPerSec == 0 || r.P99 == 0 {
		return r, errors.New("wrk made no requests, or its output lacks the request count, " +
			"the Requests/sec line or the 99% latency line (was --latency given?)")
	}
	return r, nil
}

// findWrk returns the path of the wrk executable name, "wrk" when empty.
func findWrk(name string) (string, error) {
	path, err := exec.LookPath(cmp.Or(name, "wrk"))
	if err != nil {
		return "", fmt.Errorf("%w (%w)", ErrWrkMissing, err)
	}
	return path, nil
}

// wrkArgs returns the arguments of a wrk run against url.
func wrkArgs(url string, threads, connections int, duration time.Duration) []string {
	seconds := max(1, int(duration.Round(time.Second)/time.Second))
	return []string{
		"--threads", strconv.Itoa(threads), "--connections", strconv.Itoa(connections),
		"--duration", strconv.Itoa(seconds) + "s", "--latency", url,
	}
}

// runWrk runs wrk with args through r, which shows its stderr as any child's
// (live when verbose, replayed when it fails), and parses its report. The
// report is added to the error when wrk fails or it cannot be read.
func runWrk(ctx context.Context, r *runner.Runner, wrk string, args []string) (Result, error) {
	out, err := r.Output(ctx, runner.Command(wrk, args...))
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	var res Result
	if err == nil {
		res, err = ParseWrk(out)
	}
	if err != nil && out != "" {
		err = fmt.Errorf("%w\n%s", err, r.Redactor.String(out))
	}
	return res, err
}
