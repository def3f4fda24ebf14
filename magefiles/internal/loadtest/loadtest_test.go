package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want Result
	}{
		{"wrk-lettings.txt", Result{
			RequestsPerSec: 71942.37, P99: 9880 * time.Microsecond, Requests: 72060,
		}},
		{"wrk-not-found.txt", Result{
			RequestsPerSec: 64828.33, P99: 10260 * time.Microsecond, Requests: 71251, Non2xx3xx: 71251,
		}},
		{"wrk-socket-errors.txt", Result{
			RequestsPerSec: 34340.93, P99: 7790 * time.Microsecond, Requests: 72104, SocketErrors: 66 + 224115,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseWrk(string(out))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseWrk = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkLatencyUnits(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "wrk-lettings.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string
		want time.Duration
	}{
		{"     99%  812.00us", 812 * time.Microsecond},
		{"     99%    1.50s ", 1500 * time.Millisecond},
		{"     99%    2.00m ", 2 * time.Minute},
	}
	for _, tt := range tests {
		in := strings.Replace(string(out), "     99%    9.88ms", tt.line, 1)
		got, err := ParseWrk(in)
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		if got.P99 != tt.want {
			t.Errorf("%q: P99 = %v, want %v", tt.line, got.P99, tt.want)
		}
	}
}

func TestParseWrkRejectsIncompleteOutput(t *testing.T) {
	out, err := os.ReadFile(filepath.Join("testdata", "wrk-lettings.txt"))
	if err != nil {
		t.Fatal(err)
	}
	withoutLine := func(prefix string) string {
		var kept []string
		for line := range strings.Lines(string(out)) {
			if !strings.HasPrefix(strings.TrimSpace(line), prefix) {
				kept = append(kept, line)
			}
		}
		return strings.Join(kept, "")
	}
	tests := map[string]string{
		"empty":              "",
		"connection refused": "unable to connect to 127.0.0.1:1 Connection refused\n",
		"no --latency":       withoutLine("99%"),
		"no Requests/sec":    withoutLine("Requests/sec"),
		"no request count":   withoutLine("72060 requests"),
	}
	for name, in := range tests {
		if _, err := ParseWrk(in); err == nil {
			t.Errorf("%s: ParseWrk succeeded", name)
		}
	}
}

func TestParseVMHWM(t *testing.T) {
	status := "Name:\tapp\nVmPeak:\t 1254872 kB\nVmSize:\t 1254872 kB\nVmHWM:\t   20300 kB\nVmRSS:\t   18100 kB\n"
	got, err := parseVMHWM(status)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(20300 << 10); got != want {
		t.Errorf("parseVMHWM = %d, want %d", got, want)
	}
	for _, bad := range []string{"Name:\tapp\n", "VmHWM:\t 12 MB\n", "VmHWM:\t x kB\n"} {
		if _, err := parseVMHWM(bad); err == nil {
			t.Errorf("parseVMHWM(%q) succeeded", bad)
		}
	}
}

func TestWrkArgs(t *testing.T) {
	tests := []struct {
		duration time.Duration
		want     string
	}{
		{5 * time.Second, "5s"},
		{1500 * time.Millisecond, "2s"},
		{100 * time.Millisecond, "1s"},
	}
	for _, tt := range tests {
		got := strings.Join(wrkArgs("http://127.0.0.1:1/x", 2, 64, tt.duration), " ")
		want := "--threads 2 --connections 64 --duration " + tt.want + " --latency http://127.0.0.1:1/x"
		if got != want {
			t.Errorf("wrkArgs(%v) = %q, want %q", tt.duration, got, want)
		}
	}
}

// sampleReport is a report that meets every default goal.
func sampleReport() Report {
	return Report{
		Duration:        5 * time.Second,
		StartToFirst200: 8 * time.Millisecond,
		PeakRSS:         21 << 20,
		Results: []Result{
			{Path: "/", Status: 200, RequestsPerSec: 66000, P99: 8 * time.Millisecond, Requests: 330000},
			{Path: LettingsPath, Status: 200, RequestsPerSec: 65000, P99: 9 * time.Millisecond, Requests: 325000},
			{
				Path: NotFoundPath, Status: 404, RequestsPerSec: 60000, P99: 10 * time.Millisecond,
				Requests: 300000, Non2xx3xx: 300000,
			},
		},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Report)
		failed string // the goal that should fail, "" for none
	}{
		{"all met", func(*Report) {}, ""},
		{"slow", func(r *Report) { r.Results[1].RequestsPerSec = 39999 }, "/lettings/ throughput"},
		{"long tail", func(r *Report) { r.Results[1].P99 = 15 * time.Millisecond }, "/lettings/ p99 latency"},
		{"fat", func(r *Report) { r.PeakRSS = 30 << 20 }, "peak RSS"},
		{"slow start", func(r *Report) { r.StartToFirst200 = 51 * time.Millisecond }, "start to first 200"},
		{"errors on a page", func(r *Report) { r.Results[0].Non2xx3xx = 1 }, "expected statuses, no socket errors"},
		{"200 on the 404 path", func(r *Report) { r.Results[2].Non2xx3xx = 10 }, "expected statuses, no socket errors"},
		{"socket errors", func(r *Report) { r.Results[2].SocketErrors = 3 }, "expected statuses, no socket errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReport()
			tt.change(&r)
			checks := r.Check(DefaultGoals)
			for _, c := range checks {
				if wantPass := c.Goal != tt.failed; c.Pass != wantPass {
					t.Errorf("%s: pass = %v, want %v (%+v)", c.Goal, c.Pass, wantPass, c)
				}
			}
			if Passed(checks) != (tt.failed == "") {
				t.Errorf("Passed = %v", Passed(checks))
			}
		})
	}
	if Passed((Report{}).Check(DefaultGoals)) {
		t.Error("an empty report passes")
	}
}

func TestPrint(t *testing.T) {
	var b strings.Builder
	pass, err := sampleReport().Print(&b, DefaultGoals)
	if err != nil || !pass {
		t.Fatalf("Print = %v, %v; want true, nil", pass, err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "Load test: wrk, 64 connections, 2 threads, 5s per URL\n") {
		t.Errorf("output lacks the settings:\n%s", out)
	}
	// Lines, compared field by field since padding depends on the widest cell.
	for _, want := range []string{
		"/lettings/ 200 65000 9.00 ms 325000 0 0",
		"/this-page-does-not-exist/ 404 60000 10.00 ms 300000 0 0",
		"start to first 200: 8.00 ms",
		"peak RSS: 21.0 MiB",
		"/lettings/ throughput ≥ 40000 req/s 65000 req/s PASS",
		"peak RSS < 30.0 MiB 21.0 MiB PASS",
	} {
		found := false
		for line := range strings.Lines(out) {
			if strings.Join(strings.Fields(line), " ") == want {
				found = true
			}
		}
		if !found {
			t.Errorf("output lacks a line %q:\n%s", want, out)
		}
	}
	// Every line of a table has the same width.
	for _, table := range strings.Split(out, "\n\n")[1:] {
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) < 3 || strings.HasPrefix(lines[0], "start") {
			continue
		}
		for _, l := range lines {
			if len([]rune(l)) != len([]rune(lines[0])) {
				t.Errorf("misaligned line %q in table:\n%s", l, table)
			}
		}
	}
	r := sampleReport()
	r.PeakRSS = 40 << 20
	b.Reset()
	if pass, _ := r.Print(&b, DefaultGoals); pass || !strings.Contains(b.String(), "FAIL") {
		t.Errorf("Print of a failing report: pass %v\n%s", pass, b.String())
	}
}

func TestRunWithoutWrk(t *testing.T) {
	_, err := Run(t.Context(), Options{Binary: os.Args[0], Wrk: filepath.Join(t.TempDir(), "wrk")})
	if !errors.Is(err, ErrWrkMissing) || !strings.Contains(err.Error(), "apt-get install wrk") {
		t.Errorf("Run without wrk = %v, want ErrWrkMissing saying how to install it", err)
	}
}

func TestRunWrkReplaysFailure(t *testing.T) {
	requireWrk(t)
	wrk, err := findWrk("")
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort(t.Context()) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	r := &runner.Runner{Out: &shown}
	_, err = runWrk(t.Context(), r, wrk, wrkArgs("http://127.0.0.1:"+port+"/", 1, 1, time.Second))
	if exitErr := (*runner.ExitError)(nil); !errors.As(err, &exitErr) {
		t.Errorf("runWrk against a closed port = %v, want a runner.ExitError", err)
	}
	if !strings.Contains(shown.String(), "unable to connect") {
		t.Errorf("the runner did not replay wrk's message; it showed %q", shown.String())
	}
}

func TestRunWithoutBinary(t *testing.T) {
	for _, binary := range []string{"", filepath.Join(t.TempDir(), "missing")} {
		if _, err := Run(t.Context(), Options{Binary: binary}); err == nil {
			t.Errorf("Run with binary %q succeeded", binary)
		}
	}
}

var (
	buildOnce sync.Once
	appBinary string
	errBuild  error
)

// buildApp builds the app once for the tests that run it, as mage bench
// builds it.
func buildApp(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the app; skipped with -short")
	}
	buildOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", "..", ".."))
		if err != nil {
			errBuild = err
			return
		}
		dir, err := os.MkdirTemp("", "loadtest-app-")
		if err != nil {
			errBuild = err
			return
		}
		appBinary = filepath.Join(dir, "app")
		var out strings.Builder
		errBuild = gobuild.Build(context.Background(), &runner.Runner{Out: &out}, gobuild.Options{
			Output: appBinary, Version: "test", Commit: "test", Dir: root,
		})
		if errBuild != nil {
			errBuild = fmt.Errorf("%w\n%s", errBuild, out.String())
		}
	})
	if errBuild != nil {
		t.Fatal(errBuild)
	}
	return appBinary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if appBinary != "" {
		os.RemoveAll(filepath.Dir(appBinary))
	}
	os.Exit(code)
}

// requireWrk skips the test when wrk is missing, or fails it on CI.
func requireWrk(t *testing.T) {
	t.Helper()
	if _, err := findWrk(""); err != nil {
		testenv.Missing(t, "wrk", err, "install it: apt-get install wrk")
	}
}

// running lists the processes executing binary.
func running(t *testing.T, binary string) []string {
	t.Helper()
	exes, err := filepath.Glob("/proc/[0-9]*/exe")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && target == binary {
			pids = append(pids, filepath.Base(filepath.Dir(exe)))
		}
	}
	return pids
}

func TestStartServerAndStop(t *testing.T) {
	binary := buildApp(t)
	srv, startup, err := startServer(t.Context(), binary, nil)
	if err != nil {
		t.Fatal(err)
	}
	if startup <= 0 || startup > 10*time.Second {
		t.Errorf("start to first 200 = %v", startup)
	}
	if rss, err := srv.peakRSS(); err != nil || rss <= 0 {
		t.Errorf("peakRSS = %d, %v", rss, err)
	}
	if err := srv.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if pids := running(t, binary); len(pids) > 0 {
		t.Errorf("server still running after stop: pids %v", pids)
	}
}

func TestStartServerReportsEarlyExit(t *testing.T) {
	binary := buildApp(t)
	_, _, err := startServer(t.Context(), binary, []string{"SENTRY_TRACES_SAMPLE_RATE=lots"})
	if err == nil || !strings.Contains(err.Error(), "SENTRY_TRACES_SAMPLE_RATE") {
		t.Fatalf("startServer with bad config = %v, want the server's message", err)
	}
	if n := strings.Count(err.Error(), "SENTRY_TRACES_SAMPLE_RATE"); n != 1 {
		t.Errorf("startServer with bad config reports the server's message %d times, want once:\n%v", n, err)
	}
}

// TestRun runs a brief real load test against the app.
func TestRun(t *testing.T) {
	requireWrk(t)
	binary := buildApp(t)
	report, err := Run(t.Context(), Options{Binary: binary, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := report.Print(&b, DefaultGoals); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())

	if report.StartToFirst200 <= 0 || report.PeakRSS <= 0 {
		t.Errorf("start to first 200 %v, peak RSS %d", report.StartToFirst200, report.PeakRSS)
	}
	if len(report.Results) != 5 {
		t.Fatalf("%d results, want 5", len(report.Results))
	}
	for _, res := range report.Results {
		if res.Requests == 0 || res.RequestsPerSec <= 0 || res.P99 <= 0 {
			t.Errorf("%s: nothing measured: %+v", res.Path, res)
		}
		if res.unexpected() != 0 {
			t.Errorf("%s: %d responses without status %d", res.Path, res.unexpected(), res.Status)
		}
	}
	if !strings.HasPrefix(report.Results[3].Path, "/static/css/site.") {
		t.Errorf("stylesheet target %q", report.Results[3].Path)
	}
	if pids := running(t, binary); len(pids) > 0 {
		t.Errorf("server still running after Run: pids %v", pids)
	}
}

func TestRunCancelled(t *testing.T) {
	requireWrk(t)
	binary := buildApp(t)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Options{Binary: binary, Duration: 30 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v to stop after cancellation", d)
	}
	if pids := running(t, binary); len(pids) > 0 {
		t.Errorf("server still running after cancellation: pids %v", pids)
	}
}
