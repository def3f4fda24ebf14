// Package loadtest measures the built site under load with wrk, as a
// fraction of what Go's HTTP server can do on the same machine: each URL
// is loaded right after the same URL on a bare net/http server that
// answers a fixed small body (the ceiling), for a few rounds, so that a
// busy machine slows both alike and the ratios hold. It also measures the
// time from process start to the first 200 and the server's peak memory.
//
// It needs wrk (Debian package wrk) and Linux's /proc.
package loadtest

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// The wrk settings every run uses, and the defaults of Options.
const (
	Connections     = 64
	Threads         = 2
	DefaultRounds   = 3
	DefaultDuration = 2 * time.Second
)

// Options configures a load test.
type Options struct {
	Binary   string         // the path to the built site; required
	Rounds   int            // how many times each URL and the ceiling are loaded; default DefaultRounds
	Duration time.Duration  // how long each wrk run lasts, in whole seconds; default DefaultDuration
	Wrk      string         // the wrk executable, looked up in PATH; default "wrk"
	Runner   *runner.Runner // runs wrk; nil means a quiet one that replays wrk's output when it fails
}

// A Target is a request loaded on the site and on the ceiling.
type Target struct {
	Name   string // how the report names it
	Path   string
	Gzip   bool // sent with Accept-Encoding: gzip
	Status int  // the status the site should answer
}

// A Measure is what wrk measured in the runs of one target on one server.
type Measure struct {
	RequestsPerSec float64       // over all the runs
	P99            time.Duration // the median of the runs' 99th percentile latencies
	Requests       int64
	Wrong          int64 // responses with another status, and socket errors
}

// A Result compares the site with the ceiling on one target.
type Result struct {
	Target
	Site, Ceiling Measure
}

// Ratio is the site's requests per second as a fraction of the ceiling's.
func (r Result) Ratio() float64 { return r.Site.RequestsPerSec / r.Ceiling.RequestsPerSec }

// P99Ratio is the site's p99 latency as a multiple of the ceiling's.
func (r Result) P99Ratio() float64 { return float64(r.Site.P99) / float64(r.Ceiling.P99) }

// Report is the outcome of a load test.
type Report struct {
	Rounds          int
	Duration        time.Duration // of each wrk run
	StartToFirst200 time.Duration // from starting the process to its first 200 on /healthz
	PeakRSS         int64         // the server's peak resident set size (VmHWM) in bytes, after the last run
	Results         []Result      // one per target, in order
}

// ErrWrkMissing is returned, wrapped, when the wrk executable cannot be found.
var ErrWrkMissing = errors.New("wrk not found: install wrk: apt-get install wrk")

// report is the wrk script that prints a run's figures as one JSON line.
//
//go:embed report.lua
var report []byte

// Run starts the site, with only PORT in its environment (so a developer's
// SENTRY_DSN is not used), and the ceiling; loads every target on both in
// turn, round after round; reads the site's peak memory and stops both,
// however Run ends.
func Run(ctx context.Context, opts Options) (rep Report, err error) {
	wrk, err := exec.LookPath(cmp.Or(opts.Wrk, "wrk"))
	if err != nil {
		return rep, fmt.Errorf("%w (%w)", ErrWrkMissing, err)
	}
	script, err := os.CreateTemp("", "loadtest-*.lua")
	if err != nil {
		return rep, err
	}
	defer func() { _ = os.Remove(script.Name()) }()
	if _, err := script.Write(report); err != nil {
		return rep, errors.Join(err, script.Close())
	}
	if err := script.Close(); err != nil {
		return rep, err
	}
	site, startup, err := startServer(ctx, opts.Binary, nil)
	if err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, site.stop()) }()
	ceiling, err := startCeiling(ctx)
	if err != nil {
		return rep, err
	}
	defer func() { _ = ceiling.Close() }()
	stylesheet, err := site.stylesheet(ctx)
	if err != nil {
		return rep, err
	}
	rep = Report{
		Rounds:          cmp.Or(opts.Rounds, DefaultRounds),
		Duration:        max(time.Second, cmp.Or(opts.Duration, DefaultDuration).Round(time.Second)),
		StartToFirst200: startup,
	}
	targets := []Target{
		{Name: "/", Path: "/", Status: 200},
		{Name: "/lettings/", Path: "/lettings/", Status: 200},
		{Name: "/lettings/1/", Path: "/lettings/1/", Status: 200},
		{Name: "stylesheet", Path: stylesheet, Status: 200},
		{Name: "stylesheet, gzip", Path: stylesheet, Gzip: true, Status: 200},
		{Name: "404 page", Path: "/this-page-does-not-exist/", Status: 404},
	}
	w := wrkRun{wrk: wrk, script: script.Name(), r: cmp.Or(opts.Runner, &runner.Runner{}), duration: rep.Duration}
	siteRuns, ceilingRuns := make([][]run, len(targets)), make([][]run, len(targets))
	for range rep.Rounds {
		for i, t := range targets {
			c, err := w.load(ctx, "http://"+ceiling.Addr, t)
			if err != nil {
				return rep, fmt.Errorf("loading %s on the ceiling: %w", t.Name, err)
			}
			s, err := w.load(ctx, site.base, t)
			if err != nil {
				return rep, fmt.Errorf("loading %s: %w", t.Name, err)
			}
			ceilingRuns[i], siteRuns[i] = append(ceilingRuns[i], c), append(siteRuns[i], s)
		}
	}
	for i, t := range targets {
		rep.Results = append(rep.Results, Result{Target: t, Site: measure(siteRuns[i], t.Status), Ceiling: measure(ceilingRuns[i], 200)})
	}
	rep.PeakRSS, err = site.peakRSS()
	return rep, err
}

// startCeiling starts the ceiling: Go's HTTP server with nothing in front,
// answering every request with a fixed small body.
func startCeiling(ctx context.Context) (*http.Server, error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the ceiling server: %w", err)
	}
	body := []byte("ok\n")
	srv := &http.Server{
		Addr:              ln.Addr().String(),
		ReadHeaderTimeout: 10 * time.Second,
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }),
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// run is what the report script prints of one wrk run.
type run struct {
	Requests     int64 `json:"requests"`
	Micros       int64 `json:"duration_us"`
	P99Micros    int64 `json:"p99_us"`
	Non2xx3xx    int64 `json:"status_errors"`
	SocketErrors int64 `json:"socket_errors"`
}

// measure sums the runs of a target whose responses should have status.
// wrk counts only statuses outside 200-399, so for a path expecting an
// error every response should be counted.
func measure(runs []run, status int) Measure {
	var m Measure
	var micros int64
	p99 := make([]int64, 0, len(runs))
	for _, r := range runs {
		m.Requests += r.Requests
		micros += r.Micros
		p99 = append(p99, r.P99Micros)
		wrong := r.Non2xx3xx
		if status >= 400 {
			wrong = r.Requests - r.Non2xx3xx
		}
		m.Wrong += wrong + r.SocketErrors
	}
	if micros > 0 {
		m.RequestsPerSec = float64(m.Requests) / (float64(micros) / 1e6)
	}
	if len(p99) > 0 {
		slices.Sort(p99)
		m.P99 = time.Duration(p99[len(p99)/2]) * time.Microsecond
	}
	return m
}

// wrkRun runs wrk with the report script.
type wrkRun struct {
	wrk, script string
	r           *runner.Runner
	duration    time.Duration
}

// load runs wrk on base+t.Path through w.r, which shows its stderr as any
// child's (live when verbose, replayed when it fails), and reads the
// script's line. wrk's output is added to the error when that fails.
func (w wrkRun) load(ctx context.Context, base string, t Target) (run, error) {
	args := []string{
		"--threads", strconv.Itoa(Threads), "--connections", strconv.Itoa(Connections),
		"--duration", strconv.Itoa(int(w.duration/time.Second)) + "s", "--script", w.script,
	}
	if t.Gzip {
		args = append(args, "--header", "Accept-Encoding: gzip")
	}
	out, err := w.r.Output(ctx, runner.Command(w.wrk, append(args, base+t.Path)...))
	if ctx.Err() != nil {
		return run{}, ctx.Err()
	}
	var res run
	if err == nil {
		_, line, _ := strings.Cut(out, "\n{")
		err = json.Unmarshal([]byte("{"+line), &res)
	}
	if err == nil && res.Requests == 0 {
		err = errors.New("wrk made no requests")
	}
	if err != nil {
		return run{}, fmt.Errorf("%w\n%s", err, w.r.Redactor.String(out))
	}
	return res, nil
}
