package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func TestMeasure(t *testing.T) {
	runs := []run{
		{Requests: 1000, Micros: 1e6, P99Micros: 3000},
		{Requests: 3000, Micros: 1e6, P99Micros: 9000, SocketErrors: 2},
		{Requests: 2000, Micros: 1e6, P99Micros: 1000, Non2xx3xx: 5},
	}
	got := measure(runs, 200)
	want := Measure{RequestsPerSec: 2000, P99: 3 * time.Millisecond, Requests: 6000, Wrong: 7}
	if got != want {
		t.Errorf("measure = %+v, want %+v", got, want)
	}
	// For a 404, every response wrk counts as an error is the right one.
	if got := measure([]run{{Requests: 100, Micros: 1e6, P99Micros: 1, Non2xx3xx: 98}}, 404).Wrong; got != 2 {
		t.Errorf("measure of a 404 with 2 other statuses: Wrong = %d, want 2", got)
	}
}

func sampleReport() Report {
	res := func(name string, site, ceiling float64, p99, ceilingP99 time.Duration) Result {
		return Result{
			Target:  Target{Name: name, Path: name, Status: 200},
			Site:    Measure{RequestsPerSec: site, P99: p99, Requests: 1},
			Ceiling: Measure{RequestsPerSec: ceiling, P99: ceilingP99, Requests: 1},
		}
	}
	return Report{
		Rounds: 3, Duration: 2 * time.Second, StartToFirst200: 12 * time.Millisecond, PeakRSS: 14 << 20,
		Results: []Result{
			res("/", 45000, 50000, 3*time.Millisecond, 2*time.Millisecond),
			res("/lettings/", 43000, 50000, 2*time.Millisecond, 2*time.Millisecond),
		},
	}
}

func TestPrintAndFailures(t *testing.T) {
	var b strings.Builder
	if failed := sampleReport().Print(&b, DefaultGoals); len(failed) > 0 {
		t.Errorf("Print of a passing report: %q\n%s", failed, b.String())
	}
	for _, want := range []string{"/lettings/", "43000", "50000", "0.86", "1.50", "12.00 ms", "14.0 MiB", "PASS"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	tests := map[string]struct {
		change func(*Report)
		want   string
	}{
		"slow":          {func(r *Report) { r.Results[1].Site.RequestsPerSec = 40000 }, "/lettings/: 0.80 of the ceiling's requests/s"},
		"late":          {func(r *Report) { r.Results[0].Site.P99 = 4 * time.Millisecond }, "/: p99 2.00× the ceiling's"},
		"wrong status":  {func(r *Report) { r.Results[0].Ceiling.Wrong = 3 }, "/: 3 responses without status 200"},
		"fat":           {func(r *Report) { r.PeakRSS = 40 << 20 }, "peak RSS 40.0 MiB"},
		"slow to start": {func(r *Report) { r.StartToFirst200 = time.Second }, "start to first 200 1000.00 ms"},
		"not measured":  {func(r *Report) { r.Results, r.PeakRSS = nil, 0 }, "nothing was loaded"},
	}
	for name, tt := range tests {
		r := sampleReport()
		tt.change(&r)
		b.Reset()
		failed := r.Print(&b, DefaultGoals)
		if len(failed) == 0 || !strings.Contains(b.String(), "FAIL "+tt.want) {
			t.Errorf("%s: failures %q, want one starting %q:\n%s", name, failed, tt.want, b.String())
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

func TestRunWithoutWrk(t *testing.T) {
	_, err := Run(t.Context(), Options{Binary: os.Args[0], Wrk: filepath.Join(t.TempDir(), "wrk")})
	if !errors.Is(err, ErrWrkMissing) || !strings.Contains(err.Error(), "apt-get install wrk") {
		t.Errorf("Run without wrk = %v, want ErrWrkMissing saying how to install it", err)
	}
}

func TestRunWrkReplaysFailure(t *testing.T) {
	t.Parallel()
	requireWrk(t)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort(t.Context()) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	r := &runner.Runner{Out: &shown}
	_, err = wrkRun{wrk: wrk, r: r, duration: time.Second}.load(t.Context(), "http://127.0.0.1:"+port, Target{Path: "/"})
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

// ownApp returns a path of its own to the app buildApp built, a hard link
// in the test's temporary directory: running, which finds processes by the
// path of their executable, then sees only those the test started, and
// tests that run the app can run in parallel. (A link, not a copy: a file
// written by this process could still be open for writing in a child that
// another test is forking, and executing it would fail with "text file
// busy".)
func ownApp(t *testing.T) string {
	t.Helper()
	shared := buildApp(t)
	own := filepath.Join(t.TempDir(), "app")
	if err := os.Link(shared, own); err != nil {
		t.Fatalf("linking the app for the test: %v", err)
	}
	return own
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
	if _, err := exec.LookPath("wrk"); err != nil {
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
	t.Parallel()
	binary := ownApp(t)
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
	t.Parallel()
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
	t.Parallel()
	requireWrk(t)
	binary := ownApp(t)
	report, err := Run(t.Context(), Options{Binary: binary, Rounds: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report.Print(&b, DefaultGoals)
	t.Logf("\n%s", b.String())

	if report.StartToFirst200 <= 0 || report.PeakRSS <= 0 {
		t.Errorf("start to first 200 %v, peak RSS %d", report.StartToFirst200, report.PeakRSS)
	}
	if len(report.Results) != 6 {
		t.Fatalf("%d results, want 6", len(report.Results))
	}
	for _, res := range report.Results {
		for _, m := range []Measure{res.Site, res.Ceiling} {
			if m.Requests == 0 || m.RequestsPerSec <= 0 || m.P99 <= 0 || m.Wrong != 0 {
				t.Errorf("%s: %+v", res.Name, m)
			}
		}
	}
	if !strings.HasPrefix(report.Results[3].Path, "/static/css/site.") {
		t.Errorf("stylesheet target %q", report.Results[3].Path)
	}
	if pids := running(t, binary); len(pids) > 0 {
		t.Errorf("server still running after Run: pids %v", pids)
	}
}

// TestLoadSendsTheTargetsRequest checks that wrk asks for the target's path,
// with Accept-Encoding: gzip only when the target says so.
func TestLoadSendsTheTargetsRequest(t *testing.T) {
	t.Parallel()
	requireWrk(t)
	wrk, _ := exec.LookPath("wrk")
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path+" "+r.Header.Get("Accept-Encoding")] = true
		mu.Unlock()
	}))
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "report.lua")
	if err := os.WriteFile(script, report, 0o600); err != nil {
		t.Fatal(err)
	}
	w := wrkRun{wrk: wrk, script: script, r: &runner.Runner{}, duration: time.Second}
	for _, target := range []Target{{Path: "/plain"}, {Path: "/zipped", Gzip: true}} {
		if res, err := w.load(t.Context(), srv.URL, target); err != nil || res.Requests == 0 {
			t.Fatalf("load %s = %+v, %v", target.Path, res, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !seen["/plain "] || !seen["/zipped gzip"] {
		t.Errorf("the server saw %v, want /plain without and /zipped with Accept-Encoding: gzip", seen)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	requireWrk(t)
	binary := ownApp(t)
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
