package gotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// An event is one line of go test -json (cmd/test2json) output.
type event struct {
	Time        time.Time
	Action      string
	Package     string
	ImportPath  string // build-output and build-fail events
	FailedBuild string // a package that failed because this build failed
	Test        string
	Elapsed     float64
	Output      string
}

// A Result is the outcome of one test, or of a package as a whole when Test
// is empty.
type Result struct {
	Package string
	Test    string
	Action  string // pass, fail or skip
	Elapsed time.Duration
	Output  string
}

// Report gathers the events of a go test -json run.
type Report struct {
	Elapsed  time.Duration
	Coverage string // total statement coverage, such as "81.2%"; empty when unknown

	mu      sync.Mutex
	results []*Result
	running map[string]*Result // by package + "\x00" + test
	build   map[string]*strings.Builder
	stray   strings.Builder // lines that are not JSON, e.g. from go vet
}

// NewReport returns an empty Report.
func NewReport() *Report {
	return &Report{
		running: map[string]*Result{},
		build:   map[string]*strings.Builder{},
	}
}

// Writer returns a writer that takes go test -json output, line by line.
// When live is not nil, each test's output is copied there as it comes.
func (r *Report) Writer(live io.Writer) io.WriteCloser {
	return &lineWriter{report: r, live: live}
}

type lineWriter struct {
	report *Report
	live   io.Writer
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) Close() error {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
	return nil
}

func (w *lineWriter) line(b []byte) {
	var e event
	if err := json.Unmarshal(b, &e); err != nil || e.Action == "" {
		w.report.mu.Lock()
		w.report.stray.Write(b)
		w.report.stray.WriteByte('\n')
		w.report.mu.Unlock()
		if w.live != nil {
			fmt.Fprintf(w.live, "%s\n", b)
		}
		return
	}
	if w.live != nil && e.Output != "" {
		_, _ = io.WriteString(w.live, e.Output)
	}
	w.report.add(e)
}

func (r *Report) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Action {
	case "build-output":
		b := r.build[e.ImportPath]
		if b == nil {
			b = &strings.Builder{}
			r.build[e.ImportPath] = b
		}
		b.WriteString(e.Output)
		return
	case "build-fail":
		return
	}
	key := e.Package + "\x00" + e.Test
	res := r.running[key]
	if res == nil {
		res = &Result{Package: e.Package, Test: e.Test}
		r.running[key] = res
	}
	switch e.Action {
	case "output":
		res.Output += e.Output
	case "pass", "fail", "skip":
		if b := r.build[e.FailedBuild]; b != nil {
			res.Output = b.String() + res.Output
			delete(r.build, e.FailedBuild)
		}
		res.Action = e.Action
		res.Elapsed = time.Duration(e.Elapsed * float64(time.Second))
		r.results = append(r.results, res)
		delete(r.running, key)
	}
}

// Tests returns the results of individual tests, in the order they ended.
func (r *Report) Tests() []*Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Result
	for _, res := range r.results {
		if res.Test != "" {
			out = append(out, res)
		}
	}
	return out
}

// Packages returns the per-package results, sorted by package.
func (r *Report) Packages() []*Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Result
	for _, res := range r.results {
		if res.Test == "" {
			out = append(out, res)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Package < out[j].Package })
	return out
}

// Count returns how many tests ended with action (pass, fail or skip).
func (r *Report) Count(action string) int {
	n := 0
	for _, res := range r.Tests() {
		if res.Action == action {
			n++
		}
	}
	return n
}

// Failed reports whether any test or package failed, or a package did not
// build.
func (r *Report) Failed() bool {
	for _, res := range r.Packages() {
		if res.Action == "fail" {
			return true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.build) > 0 && r.buildFailed()
}

func (r *Report) buildFailed() bool {
	for _, b := range r.build {
		if strings.TrimSpace(b.String()) != "" {
			return true
		}
	}
	return false
}

// Print writes the report: the failures in full, skips with their reasons,
// and a one-line summary.
func (r *Report) Print(w io.Writer) {
	r.mu.Lock()
	for path, b := range r.build {
		fmt.Fprintf(w, "--- BUILD FAILED: %s\n%s", path, b.String())
	}
	if s := strings.TrimSpace(r.stray.String()); s != "" {
		fmt.Fprintf(w, "%s\n", s)
	}
	r.mu.Unlock()

	tests := r.Tests()
	for _, res := range tests {
		if res.Action == "fail" {
			fmt.Fprintf(w, "--- FAIL: %s %s (%s)\n%s", shortPkg(res.Package), res.Test, res.Elapsed.Round(time.Millisecond), res.Output)
		}
	}
	failedPkgs := 0
	for _, res := range r.Packages() {
		if res.Action == "fail" {
			failedPkgs++
			if !hasFailedTest(tests, res.Package) {
				fmt.Fprintf(w, "--- FAIL: %s\n%s", shortPkg(res.Package), res.Output)
			}
		}
	}
	for _, res := range tests {
		if res.Action == "skip" && !strings.Contains(res.Test, "/") {
			fmt.Fprintf(w, "--- SKIP: %s %s: %s\n", shortPkg(res.Package), res.Test, skipReason(res.Output))
		}
	}
	status := "ok"
	if r.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d passed, %d failed, %d skipped in %d packages (%d failed) in %s",
		status, r.Count("pass"), r.Count("fail"), r.Count("skip"),
		len(r.Packages()), failedPkgs, r.Elapsed.Round(100*time.Millisecond))
	if r.Coverage != "" {
		fmt.Fprintf(w, "; coverage %s of statements", r.Coverage)
	}
	fmt.Fprintln(w)
}

func hasFailedTest(tests []*Result, pkg string) bool {
	for _, t := range tests {
		if t.Package == pkg && t.Action == "fail" {
			return true
		}
	}
	return false
}

// skipReason picks the message a test gave to t.Skip out of its output.
func skipReason(output string) string {
	var lines []string
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, " ")
}

func shortPkg(pkg string) string {
	if i := strings.Index(pkg, "/oc-lettings/"); i >= 0 {
		return pkg[i+len("/oc-lettings/"):]
	}
	return pkg
}
