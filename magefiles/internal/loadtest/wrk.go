package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// ErrWrkMissing is returned, wrapped, when the wrk executable cannot be
// found.
var ErrWrkMissing = errors.New("wrk not found: install wrk: apt-get install wrk")

// WrkResult is what one wrk run measured.
type WrkResult struct {
	// RequestsPerSec is the throughput over the whole run.
	RequestsPerSec float64
	// P99 is the 99th percentile of request latency.
	P99 time.Duration
	// Requests is the number of completed requests.
	Requests int64
	// Non2xx3xx counts responses with a status outside 200-399.
	Non2xx3xx int64
	// SocketErrors counts connect, read, write and timeout errors.
	SocketErrors int64
}

// Patterns of the lines of wrk's report that ParseWrk reads.
var (
	reRequestsPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reP99            = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	reRequests       = regexp.MustCompile(`(?m)^\s+([0-9]+) requests in `)
	reNon2xx3xx      = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: ([0-9]+)\s*$`)
	reSocketErrors   = regexp.MustCompile(
		`(?m)^\s+Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)\s*$`)
)

// latencyUnits are the units wrk prints latencies in.
var latencyUnits = map[string]time.Duration{
	"us": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
}

// ParseWrk reads the report wrk prints when run with --latency.
func ParseWrk(output string) (WrkResult, error) {
	var r WrkResult
	m := reRequestsPerSec.FindStringSubmatch(output)
	if m == nil {
		return r, errors.New("wrk output has no Requests/sec line")
	}
	r.RequestsPerSec, _ = strconv.ParseFloat(m[1], 64)

	m = reP99.FindStringSubmatch(output)
	if m == nil {
		return r, errors.New("wrk output has no 99% latency line (was --latency given?)")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return r, fmt.Errorf("wrk 99%% latency %q: %w", m[1], err)
	}
	r.P99 = time.Duration(v * float64(latencyUnits[m[2]]))

	m = reRequests.FindStringSubmatch(output)
	if m == nil {
		return r, errors.New("wrk output has no request count")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)

	if m := reNon2xx3xx.FindStringSubmatch(output); m != nil {
		r.Non2xx3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocketErrors.FindStringSubmatch(output); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	return r, nil
}

// findWrk returns the path of the wrk executable named by name, "wrk" when
// empty.
func findWrk(name string) (string, error) {
	if name == "" {
		name = "wrk"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w (%w)", ErrWrkMissing, err)
	}
	return path, nil
}

// wrkArgs returns the arguments of a wrk run against url.
func wrkArgs(url string, threads, connections int, duration time.Duration) []string {
	seconds := max(1, int(duration.Round(time.Second)/time.Second))
	return []string{
		"--threads", strconv.Itoa(threads),
		"--connections", strconv.Itoa(connections),
		"--duration", strconv.Itoa(seconds) + "s",
		"--latency",
		url,
	}
}

// runWrk runs wrk with args through r and parses its report. What wrk
// writes to stderr is shown as r shows any child's output: live when
// verbose, replayed when wrk fails.
func runWrk(ctx context.Context, r *runner.Runner, wrk string, args []string) (WrkResult, error) {
	out, err := r.Output(ctx, runner.Command(wrk, args...))
	if ctxErr := ctx.Err(); ctxErr != nil {
		return WrkResult{}, ctxErr
	}
	if err != nil {
		if out != "" {
			err = fmt.Errorf("%w\n%s", err, r.Redactor.String(out))
		}
		return WrkResult{}, err
	}
	res, err := ParseWrk(out)
	if err != nil {
		return WrkResult{}, fmt.Errorf("%w\n%s", err, r.Redactor.String(out))
	}
	return res, nil
}
