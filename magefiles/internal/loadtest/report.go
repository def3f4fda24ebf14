package loadtest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Goals are the performance goals a Report is checked against.
type Goals struct {
	MinRequestsPerSec  float64       // the lowest acceptable throughput on /lettings/
	MaxP99             time.Duration // the highest acceptable 99th percentile latency on /lettings/
	MaxPeakRSS         int64         // the highest acceptable peak resident set size, in bytes
	MaxStartToFirst200 time.Duration // the longest acceptable time from process start to the first 200
}

// DefaultGoals are the project's goals, for a 2-core machine.
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
	var lettings Result // stays zero, and fails, when /lettings/ was not loaded
	var wrong int64
	for _, res := range r.Results {
		wrong += res.SocketErrors + res.unexpected()
		if res.Path == LettingsPath {
			lettings = res
		}
	}
	var checks []Check
	check := func(goal, target, measured string, pass bool) {
		checks = append(checks, Check{goal, target, measured, pass})
	}
	check(LettingsPath+" throughput", fmt.Sprintf("≥ %.0f req/s", g.MinRequestsPerSec),
		fmt.Sprintf("%.0f req/s", lettings.RequestsPerSec), lettings.Requests > 0 && lettings.RequestsPerSec >= g.MinRequestsPerSec)
	check(LettingsPath+" p99 latency", "< "+formatLatency(g.MaxP99), formatLatency(lettings.P99),
		lettings.Requests > 0 && lettings.P99 < g.MaxP99)
	check("peak RSS", "< "+formatBytes(g.MaxPeakRSS), formatBytes(r.PeakRSS),
		r.PeakRSS > 0 && r.PeakRSS < g.MaxPeakRSS)
	check("start to first 200", "< "+formatLatency(g.MaxStartToFirst200), formatLatency(r.StartToFirst200),
		r.StartToFirst200 > 0 && r.StartToFirst200 < g.MaxStartToFirst200)
	check("expected statuses, no socket errors", "0 failures", fmt.Sprintf("%d failures", wrong),
		len(r.Results) > 0 && wrong == 0)
	return checks
}

// Passed reports whether every check passes.
func Passed(checks []Check) bool {
	return !slices.ContainsFunc(checks, func(c Check) bool { return !c.Pass })
}

// unexpected counts the responses whose status was not res.Status.
// wrk only counts statuses outside 200-399, so for a path expecting an
// error every response should be counted.
func (res Result) unexpected() int64 {
	if res.Status >= 400 {
		return res.Requests - res.Non2xx3xx
	}
	return res.Non2xx3xx
}

// Print writes the report as tables, the measures then the goals with PASS
// or FAIL, and reports whether every goal passed.
func (r Report) Print(w io.Writer, g Goals) (bool, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Load test: wrk, %d connections, %d threads, %v per URL\n\n",
		DefaultConnections, DefaultThreads, r.Duration)
	rows := []string{"URL\tstatus\trequests/s\tp99\trequests\tunexpected\tsocket errors"}
	for _, res := range r.Results {
		rows = append(rows, fmt.Sprintf("%s\t%d\t%.0f\t%s\t%d\t%d\t%d", res.Path, res.Status,
			res.RequestsPerSec, formatLatency(res.P99), res.Requests, res.unexpected(), res.SocketErrors))
	}
	writeTable(&b, rows)
	fmt.Fprintf(&b, "\nstart to first 200: %s\npeak RSS:           %s\n\n",
		formatLatency(r.StartToFirst200), formatBytes(r.PeakRSS))
	checks := r.Check(g)
	rows = []string{"goal\ttarget\tmeasured\tresult"}
	result := map[bool]string{true: "PASS", false: "FAIL"}
	for _, c := range checks {
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s", c.Goal, c.Target, c.Measured, result[c.Pass]))
	}
	writeTable(&b, rows)
	_, err := io.WriteString(w, b.String())
	return Passed(checks), err
}

// writeTable writes rows of tab-separated cells as a table, the first
// column left-aligned and the others right-aligned, two spaces apart.
func writeTable(w io.Writer, rows []string) {
	first := 0
	for _, row := range rows {
		cell, _, _ := strings.Cut(row, "\t")
		first = max(first, utf8.RuneCountInString(cell))
	}
	// The first column is padded here, the others by tabwriter: their cells
	// start with the two spaces and end with a tab, to pad the last one too.
	tw := tabwriter.NewWriter(w, 0, 0, 0, ' ', tabwriter.AlignRight)
	for _, row := range rows {
		cell, rest, _ := strings.Cut(row, "\t")
		fmt.Fprintf(tw, "%-*s\t  %s\t\n", first, cell, strings.ReplaceAll(rest, "\t", "\t  "))
	}
	_ = tw.Flush() // w is a strings.Builder
}

// formatLatency writes d in milliseconds with two decimals.
func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// formatBytes writes n in mebibytes with one decimal.
func formatBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
