package web

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
)

// auditJS measures a page in the browser; see testdata/audit.js.
//
//go:embed testdata/audit.js
var auditJS string

const (
	// minHeaderGap is the least space, in CSS pixels, between the header and
	// the first element of main.
	minHeaderGap = 16
	// browserTimeout bounds the whole browser test; the browser is killed
	// after it.
	browserTimeout = 2 * time.Minute
)

// audit is what auditJS returns.
type audit struct {
	HeaderGap   float64 `json:"headerGap"`
	ScrollWidth float64 `json:"scrollWidth"`
	Texts       []struct {
		Element    string  `json:"element"`
		Color      string  `json:"color"`
		Background string  `json:"background"`
		Ratio      float64 `json:"ratio"`
		Required   float64 `json:"required"`
	} `json:"texts"`
	Problems []string `json:"problems"`
}

// browserPage is a page the browser test loads.
type browserPage struct {
	name   string // for the subtest and the screenshot
	path   string
	status int64
}

// chromiumPath returns the path of Debian's chromium or, failing that, of
// Google Chrome, which CircleCI's machine images carry. Without either the
// test is skipped, or fails when CI is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "chromium not found; install it (sudo .ci/setup, or apt-get install chromium) to run the browser test"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is a failure)")
	}
	t.Skip(msg)
	return ""
}

// screenshotDir returns where screenshots go: $TEST_RESULTS_DIR/screenshots,
// for CI to keep as artifacts, or a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_RESULTS_DIR")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser loads every page of the site in headless Chromium, on a
// desktop and a phone viewport, and checks what a visitor sees: no console
// errors or failed requests, no sideways scrolling on the phone, space
// between the header and the content, and text contrast that meets WCAG AA.
// It saves a screenshot of each page at each size.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	chromium := chromiumPath(t)
	shots := screenshotDir(t)

	srv := httptest.NewServer(newTestSite(t, Options{}, nil))
	t.Cleanup(srv.Close)
	pages := browserPages(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
	)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}

	for _, vp := range []struct {
		width, height int64
		mobile        bool
	}{{1280, 900, false}, {390, 844, true}} {
		name := fmt.Sprintf("%dx%d", vp.width, vp.height)
		t.Run(name, func(t *testing.T) {
			tab, cancel := chromedp.NewContext(browserCtx)
			defer cancel()
			var events tabEvents
			if err := chromedp.Listen(tab, events.record); err != nil {
				t.Fatal(err)
			}
			var emulate []chromedp.EmulateViewportOption
			if vp.mobile {
				emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			if err := chromedp.Do(tab, chromedp.EmulateViewport(vp.width, vp.height, emulate...)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				t.Run(p.name, func(t *testing.T) {
					a := loadPage(tab, t, &events, srv.URL, p, filepath.Join(shots, name+"-"+p.name+".png"))
					checkAudit(t, a, vp.width)
				})
			}
		})
	}
}

// browserPages lists every page of the embedded catalogue, and a 404.
func browserPages(t *testing.T) []browserPage {
	t.Helper()
	c, err := catalogue.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	pages := []browserPage{
		{"home", "/", http.StatusOK},
		{"lettings", "/lettings/", http.StatusOK},
	}
	for _, l := range c.Lettings {
		pages = append(pages, browserPage{"letting-" + strconv.Itoa(l.ID), "/lettings/" + strconv.Itoa(l.ID) + "/", http.StatusOK})
	}
	pages = append(pages, browserPage{"profiles", "/profiles/", http.StatusOK})
	for _, p := range c.Profiles {
		pages = append(pages, browserPage{"profile-" + p.Username, "/profiles/" + url.PathEscape(p.Username) + "/", http.StatusOK})
	}
	return append(pages, browserPage{"not-found", "/no-such-page/", http.StatusNotFound})
}

// loadPage loads p in tab, saves a screenshot to shot, reports console
// errors and failed requests, and returns the page's audit.
func loadPage(tab context.Context, t *testing.T, events *tabEvents, base string, p browserPage, shot string) audit {
	t.Helper()
	pageURL := base + p.path
	events.reset(pageURL, p.status)
	res, err := chromedp.Run(tab, chromedp.NavigateResponse(pageURL))
	if err != nil {
		t.Fatalf("load %s: %v", p.path, err)
	}
	if res.Status != p.status {
		t.Errorf("status %d, want %d", res.Status, p.status)
	}
	a, err := chromedp.Run(tab, chromedp.Evaluate[audit](auditJS))
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, problem := range events.take() {
		t.Error(problem)
	}
	return a
}

// checkAudit checks the measures of a page shown width pixels wide.
func checkAudit(t *testing.T, a audit, width int64) {
	t.Helper()
	for _, p := range a.Problems {
		t.Error(p)
	}
	if a.ScrollWidth > float64(width) {
		t.Errorf("the page is %.0f px wide, wider than the %d px viewport: it scrolls sideways", a.ScrollWidth, width)
	}
	if a.HeaderGap < minHeaderGap {
		t.Errorf("main's first element starts %.1f px below the header, want at least %d", a.HeaderGap, minHeaderGap)
	}
	lowest := 0.0
	for _, text := range a.Texts {
		if lowest == 0 || text.Ratio < lowest {
			lowest = text.Ratio
		}
		if text.Ratio < text.Required {
			t.Errorf("%s: contrast %.2f:1 (%s on %s), want at least %g:1",
				text.Element, text.Ratio, text.Color, text.Background, text.Required)
		}
	}
	if len(a.Texts) == 0 {
		t.Error("no visible text found")
	}
	t.Logf("lowest contrast %.2f:1, header gap %.1f px", lowest, a.HeaderGap)
}

// tabEvents collects, from a tab's events, what went wrong while a page
// loaded: console errors, uncaught exceptions, and requests that failed or
// got an error status. The page's own expected error status is not one.
type tabEvents struct {
	mu         sync.Mutex
	pageURL    string
	pageStatus int64
	urls       map[network.RequestID]string
	problems   []string
}

// reset forgets earlier pages before the page at pageURL, expected to
// answer with status, loads.
func (e *tabEvents) reset(pageURL string, status int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pageURL, e.pageStatus = pageURL, status
	e.urls = nil
	e.problems = nil
}

// take returns the problems seen since reset, and forgets them.
func (e *tabEvents) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	problems := e.problems
	e.problems = nil
	return problems
}

// record is the chromedp listener: it runs on the tab's event loop, so it
// only takes notes.
func (e *tabEvents) record(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.urls == nil {
			e.urls = make(map[network.RequestID]string)
		}
		e.urls[ev.RequestID] = ev.Request.URL
	case *network.EventResponseReceived:
		r := ev.Response
		if r.Status >= 400 && (r.URL != e.pageURL || r.Status != e.pageStatus) {
			e.problems = append(e.problems, fmt.Sprintf("request for %s: status %d", r.URL, r.Status))
		}
	case *network.EventLoadingFailed:
		e.problems = append(e.problems, fmt.Sprintf("request for %s failed: %s %s",
			e.urls[ev.RequestID], ev.ErrorText, ev.BlockedReason))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			e.problems = append(e.problems, fmt.Sprintf("console.%s called", ev.Type))
		}
	case *runtime.EventExceptionThrown:
		e.problems = append(e.problems, "uncaught exception: "+ev.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		en := ev.Entry
		// The browser logs the expected status of the page as an error too.
		expected := en.Source == log.EntrySourceNetwork && en.URL == e.pageURL && e.pageStatus >= 400
		if en.Level == log.EntryLevelError && !expected {
			e.problems = append(e.problems, fmt.Sprintf("console error (%s): %s", en.Source, strings.TrimSpace(en.Text)))
		}
	}
}
