package loadtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Goals are the performance goals a Report is checked against.
type Goals struct {
	// MinRequestsPerSec is the lowest acceptable throughput on /lettings/.
	MinRequestsPerSec float64
	// MaxP99 is the highest acceptable 99th percentile latency on /lettings/.
	MaxP99 time.Duration
	// MaxPeakRSS is the highest acceptable peak resident set size, in bytes.
	MaxPeakRSS int64
	// MaxStartToFirst200 is the longest acceptable time from process start to
	// the first 200.
	MaxStartToFirst200 time.Duration
}

// DefaultGoals are the project's goals for a 2-core machine with 64
// keep-alive connections.
var DefaultGoals = Goals{
	MinRequestsPerSec:  40000,
	MaxP99:             15 * time.Millisecond,
	MaxPeakRSS:         30 << 20,
	MaxStartToFirst200: 50 * time.Millisecond,
}

// Check is the outcome of one goal.
type Check struct {
	Goal     string
	Target   string
	Measured string
	Pass     bool
}

// Check compares the report with the goals. Besides the goals themselves, it
// checks that every response had the expected status and no socket failed,
// since a fast error is no achievement.
func (r Report) Check(g Goals) []Check {
	lettings, found := r.result(LettingsPath)
	checks := []Check{
		{
			Goal:     LettingsPath + " throughput",
			Target:   fmt.Sprintf("≥ %.0f req/s", g.MinRequestsPerSec),
			Measured: fmt.Sprintf("%.0f req/s", lettings.RequestsPerSec),
			Pass:     found && lettings.RequestsPerSec >= g.MinRequestsPerSec,
		},
		{
			Goal:     LettingsPath + " p99 latency",
			Target:   "< " + formatLatency(g.MaxP99),
			Measured: formatLatency(lettings.P99),
			Pass:     found && lettings.P99 < g.MaxP99,
		},
		{
			Goal:     "peak RSS",
			Target:   "< " + formatBytes(g.MaxPeakRSS),
			Measured: formatBytes(r.PeakRSS),
			Pass:     r.PeakRSS > 0 && r.PeakRSS < g.MaxPeakRSS,
		},
		{
			Goal:     "start to first 200",
			Target:   "< " + formatLatency(g.MaxStartToFirst200),
			Measured: formatLatency(r.StartToFirst200),
			Pass:     r.StartToFirst200 > 0 && r.StartToFirst200 < g.MaxStartToFirst200,
		},
	}
	var wrong int64
	for _, res := range r.Results {
		wrong += res.SocketErrors + res.unexpected()
	}
	checks = append(checks, Check{
		Goal:     "expected statuses, no socket errors",
		Target:   "0 failures",
		Measured: fmt.Sprintf("%d failures", wrong),
		Pass:     len(r.Results) > 0 && wrong == 0,
	})
	return checks
}

// Passed reports whether every check passes.
func Passed(checks []Check) bool {
	for _, c := range checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// unexpected counts the responses whose status was not the target's.
// wrk only counts statuses outside 200-399, so for a target expecting an
// error every response should be counted.
func (res Result) unexpected() int64 {
	if res.Status >= 400 {
		return res.Requests - res.Non2xx3xx
	}
	return res.Non2xx3xx
}

// result returns the result for path.
func (r Report) result(path string) (Result, bool) {
	for _, res := range r.Results {
		if res.Path == path {
			return res, true
		}
	}
	return Result{}, false
}

// Print writes the report as aligned tables, the measures then the goals
// with PASS or FAIL, and reports whether every goal passed.
func (r Report) Print(w io.Writer, g Goals) (bool, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Load test: wrk, %d connections, %d threads, %v per URL\n\n",
		r.Connections, r.Threads, r.Duration)

	rows := [][]string{{"URL", "status", "requests/s", "p99", "requests", "unexpected", "socket errors"}}
	for _, res := range r.Results {
		rows = append(rows, []string{
			res.Path,
			fmt.Sprint(res.Status),
			fmt.Sprintf("%.0f", res.RequestsPerSec),
			formatLatency(res.P99),
			fmt.Sprint(res.Requests),
			fmt.Sprint(res.unexpected()),
			fmt.Sprint(res.SocketErrors),
		})
	}
	writeTable(&b, rows)
	fmt.Fprintf(&b, "\nstart to first 200: %s\npeak RSS:           %s\n\n",
		formatLatency(r.StartToFirst200), formatBytes(r.PeakRSS))

	checks := r.Check(g)
	rows = [][]string{{"goal", "target", "measured", "result"}}
	for _, c := range checks {
		result := "PASS"
		if !c.Pass {
			result = "FAIL"
		}
		rows = append(rows, []string{c.Goal, c.Target, c.Measured, result})
	}
	writeTable(&b, rows)
	_, err := io.WriteString(w, b.String())
	return Passed(checks), err
}

// writeTable writes rows with the first column left-aligned and the others
// right-aligned, and a rule under the header row.
func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for n, row := range rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			switch i {
			case 0:
				b.WriteString(cell + pad)
			default:
				b.WriteString("  " + pad + cell)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := 2 * (len(widths) - 1)
			for _, w := range widths {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
}

// formatLatency writes d in milliseconds with two decimals.
func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// formatBytes writes n in mebibytes with one decimal.
func formatBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
