package loadtest

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Goals are the performance goals a Report is checked against.
type Goals struct {
	MinRatio           float64       // the lowest site/ceiling requests per second, on every target
	MaxP99Ratio        float64       // the highest site/ceiling p99 latency, on every target
	MaxPeakRSS         int64         // the highest peak resident set size, in bytes
	MaxStartToFirst200 time.Duration // the longest time from process start to the first 200
}

// DefaultGoals are the project's goals.
var DefaultGoals = Goals{MinRatio: 0.85, MaxP99Ratio: 1.5, MaxPeakRSS: 30 << 20, MaxStartToFirst200: 50 * time.Millisecond}

// Failures lists the goals r misses, one line each; none means all are
// met. Every response must also have had the expected status with no
// socket error, since a fast error is no achievement.
func (r Report) Failures(g Goals) []string {
	var failed []string
	for _, res := range r.Results {
		switch {
		case res.Site.Wrong+res.Ceiling.Wrong > 0:
			failed = append(failed, fmt.Sprintf("%s: %d responses without status %d or with socket errors", res.Name, res.Site.Wrong+res.Ceiling.Wrong, res.Status))
		case res.Ratio() < g.MinRatio:
			failed = append(failed, fmt.Sprintf("%s: %.2f of the ceiling's requests/s, goal ≥ %.2f", res.Name, res.Ratio(), g.MinRatio))
		case res.P99Ratio() > g.MaxP99Ratio:
			failed = append(failed, fmt.Sprintf("%s: p99 %.2f× the ceiling's, goal ≤ %.2f×", res.Name, res.P99Ratio(), g.MaxP99Ratio))
		}
	}
	if len(r.Results) == 0 {
		failed = append(failed, "nothing was loaded")
	}
	if r.PeakRSS <= 0 || r.PeakRSS >= g.MaxPeakRSS {
		failed = append(failed, fmt.Sprintf("peak RSS %s, goal < %s", mib(r.PeakRSS), mib(g.MaxPeakRSS)))
	}
	if r.StartToFirst200 <= 0 || r.StartToFirst200 >= g.MaxStartToFirst200 {
		failed = append(failed, fmt.Sprintf("start to first 200 %s, goal < %s", ms(r.StartToFirst200), ms(g.MaxStartToFirst200)))
	}
	return failed
}

// Print writes the report as a table, then what the goals say of it, and
// returns the goals missed.
func (r Report) Print(w io.Writer, g Goals) []string {
	fmt.Fprintf(w, "wrk, %d connections, %d threads, %d × %s per URL on the site, "+
		"each run right after the same on a bare net/http server (the ceiling)\n\n", Connections, Threads, r.Rounds, r.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "URL             \trequests/s\tceiling\tratio\tp99\tceiling p99\tp99 ratio\twrong\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%-16s\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t%d\t\n", res.Name, res.Site.RequestsPerSec, res.Ceiling.RequestsPerSec,
			res.Ratio(), ms(res.Site.P99), ms(res.Ceiling.P99), res.P99Ratio(), res.Site.Wrong+res.Ceiling.Wrong)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nstart to first 200: %s\npeak RSS: %s\n\n", ms(r.StartToFirst200), mib(r.PeakRSS))
	failed := r.Failures(g)
	for _, f := range failed {
		fmt.Fprintln(w, "FAIL "+f)
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "PASS every URL ≥ %.2f of the ceiling with p99 ≤ %.2f× its p99, peak RSS < %s, first 200 < %s\n",
			g.MinRatio, g.MaxP99Ratio, mib(g.MaxPeakRSS), ms(g.MaxStartToFirst200))
	}
	return failed
}

// ms writes d in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// mib writes n in mebibytes with one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
