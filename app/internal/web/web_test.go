package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
	"github.com/oc-lettings/oc-lettings/app/internal/static"
)

// newTestSite returns the site's handler over the embedded assets and, when
// opts has a zero Catalogue, the embedded catalogue; it logs to logs when that
// is not nil.
func newTestSite(t testing.TB, opts Options, logs io.Writer) http.Handler {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	if opts.Catalogue.Lettings == nil && opts.Catalogue.Profiles == nil {
		c, err := catalogue.Embedded()
		if err != nil {
			t.Fatal(err)
		}
		opts.Catalogue = c
	}
	assets, err := static.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	opts.Assets = assets
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t testing.TB, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// title returns the content of the page's <title> element.
func title(body string) string {
	m := regexp.MustCompile(`<title>(.*?)</title>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestPages(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	tests := []struct {
		target     string
		title      string
		current    string // navigation entry marked as current
		wantInBody []string
	}{
		{
			"/", "Holiday homes | Orange County Lettings", "/",
			[]string{"Welcome to Orange County Lettings", `href="/lettings/"`, `href="/profiles/"`},
		},
		{
			"/lettings/", "Lettings | Orange County Lettings", "/lettings/",
			[]string{
				`<a href="/lettings/1/">Laguna Beach Cliffside Cottage</a>`,
				`<a href="/lettings/6/">Irvine Garden Townhouse</a>`,
			},
		},
		{
			"/lettings/3/", "Huntington Beach Surf Bungalow | Orange County Lettings", "/lettings/",
			[]string{
				"<h1>Huntington Beach Surf Bungalow</h1>",
				"<address class=\"panel\">\n418 17th Street<br>\nHuntington Beach, CA 92648<br>\n" +
					"<abbr title=\"ISO 3166-1 country code\">USA</abbr>\n</address>",
			},
		},
		{
			"/profiles/", "Profiles | Orange County Lettings", "/profiles/",
			[]string{
				`<a href="/profiles/alice.surfs/">alice.surfs</a>`, `<a href="/profiles/dmitri/">dmitri</a>`,
				"<p>Favorite city: Irvine</p>",
			},
		},
		{
			"/profiles/bob_harbor/", "bob_harbor | Orange County Lettings", "/profiles/",
			[]string{
				"<h1>bob_harbor</h1>",
				"<dt>First name</dt><dd>Bob</dd>", "<dt>Last name</dt><dd>Harrington</dd>",
				"<dt>Email</dt><dd>bob.harrington@example.net</dd>", "<dt>Favorite city</dt><dd>Newport Beach</dd>",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			w := get(t, h, http.MethodGet, tt.target, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			body := w.Body.String()
			if got := title(body); got != tt.title {
				t.Errorf("title = %q, want %q", got, tt.title)
			}
			if !strings.Contains(body, `<a href="`+tt.current+`" aria-current="page">`) {
				t.Errorf("navigation does not mark %s as current", tt.current)
			}
			if n := strings.Count(body, `aria-current="page"`); n != 1 {
				t.Errorf("%d navigation entries marked as current, want 1", n)
			}
			for _, s := range tt.wantInBody {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			if !regexp.MustCompile(`<link rel="stylesheet" href="/static/css/site\.[0-9a-f]{12}\.css">`).MatchString(body) {
				t.Error("body does not link the hashed stylesheet")
			}
		})
	}
}

// TestProfileWithoutEmail checks that a profile with no email shows no
// email row, not an empty one.
func TestProfileWithoutEmail(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	body := get(t, h, http.MethodGet, "/profiles/dmitri/", nil).Body.String()
	for _, want := range []string{"<dd>Dmitri</dd>", "<dd>Volkov</dd>", "<dd>Irvine</dd>"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	for _, unwanted := range []string{"Email", "@"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("the page of a profile with no email contains %q", unwanted)
		}
	}
}

// reDescription finds a page's meta description.
var reDescription = regexp.MustCompile(`<meta name="description" content="([^"]*)">`)

// TestTitlesAndDescriptions checks that every page, the 404 page included,
// has a title and a meta description that no other page has.
func TestTitlesAndDescriptions(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	targets := []string{"/", "/lettings/", "/profiles/", "/nowhere"}
	for _, list := range []string{"/lettings/", "/profiles/"} {
		for _, m := range reLink.FindAllStringSubmatch(get(t, h, http.MethodGet, list, nil).Body.String(), -1) {
			targets = append(targets, m[1])
		}
	}
	titles, descriptions := map[string]string{}, map[string]string{}
	for _, target := range targets {
		body := get(t, h, http.MethodGet, target, nil).Body.String()
		m := reDescription.FindStringSubmatch(body)
		if m == nil || len(m[1]) < 40 {
			t.Errorf("%s: description %q, want a sentence", target, m)
			continue
		}
		unique(t, titles, title(body), target)
		unique(t, descriptions, html.UnescapeString(m[1]), target)
	}
	if want := "Huntington Beach Surf Bungalow: a holiday home to rent at 418 17th Street, Huntington Beach, CA 92648."; descriptions[want] != "/lettings/3/" {
		t.Errorf("/lettings/3/ lacks the description %q", want)
	}
}

// unique reports value if seen has it for a page other than target, and
// notes it for target.
func unique(t *testing.T, seen map[string]string, value, target string) {
	t.Helper()
	if other, ok := seen[value]; ok && other != target {
		t.Errorf("%s and %s share %q", other, target, value)
	}
	seen[value] = target
}

func TestHead(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	getRes := get(t, h, http.MethodGet, "/lettings/", nil)
	w := get(t, h, http.MethodHead, "/lettings/", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("HEAD status %d, want 200", w.Code)
	}
	if w.Header().Get("Content-Length") != getRes.Header().Get("Content-Length") {
		t.Errorf("HEAD Content-Length %q, GET %q", w.Header().Get("Content-Length"), getRes.Header().Get("Content-Length"))
	}
}

func TestHealthz(t *testing.T) {
	oldVersion, oldCommit := buildinfo.Version, buildinfo.Commit
	buildinfo.Version, buildinfo.Commit = "v1.2.3", "0123abc"
	t.Cleanup(func() { buildinfo.Version, buildinfo.Commit = oldVersion, oldCommit })

	h := newTestSite(t, Options{}, nil)
	w := get(t, h, http.MethodGet, "/healthz", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"status": "ok", "version": "v1.2.3", "commit": "0123abc"}
	if len(got) != len(want) {
		t.Errorf("healthz = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("healthz[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestNotFound(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	for _, target := range []string{
		"/nowhere",
		"/lettings/7/",
		"/lettings/0/",
		"/lettings/01/",
		"/lettings/-1/",
		"/lettings/+1/",
		"/lettings/abc/",
		"/lettings/1.0/",
		"/lettings/99999999999999999999/",
		"/lettings/1/extra/",
		"/profiles/nobody/",
		"/profiles/DMITRI/",
		"/profiles/%00/",
		"/static/",
		"/static/css/site.css.map",
		"/static/%2e%2e/%2e%2e/go.mod",
		"/static/..%2f..%2fgo.mod",
		"/healthz/",
		"/sentry-debug/",
	} {
		t.Run(target, func(t *testing.T) {
			w := get(t, h, http.MethodGet, target, nil)
			if w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect {
				// The router cleans the path first; the clean path must 404.
				w = get(t, h, http.MethodGet, w.Header().Get("Location"), nil)
			}
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", w.Code)
			}
			if got := title(w.Body.String()); got != "Page not found | Orange County Lettings" {
				t.Errorf("title = %q, want the 404 page's", got)
			}
			if got := w.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	tests := []struct{ target, location string }{
		{"/lettings", "/lettings/"},
		{"/lettings/2", "/lettings/2/"},
		{"/profiles/dmitri", "/profiles/dmitri/"},
		{"/lettings/../profiles/", "/profiles/"},
		{"//lettings/", "/lettings/"},
	}
	for _, tt := range tests {
		w := get(t, h, http.MethodGet, tt.target, nil)
		if w.Code/100 != 3 || w.Header().Get("Location") != tt.location {
			t.Errorf("GET %s: %d to %q, want a redirect to %q", tt.target, w.Code, w.Header().Get("Location"), tt.location)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newTestSite(t, Options{SentryDebugRoute: true}, nil)
	for _, target := range []string{
		"/", "/lettings/", "/lettings/1/", "/profiles/", "/profiles/dmitri/",
		"/healthz", "/static/favicon.svg", "/sentry-debug/",
	} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			w := get(t, h, method, target, nil)
			if w.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", method, target, w.Code)
				continue
			}
			if got := w.Header().Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q, want GET, HEAD", method, target, got)
			}
		}
	}
	w := get(t, h, http.MethodConnect, "example.com:443", nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("CONNECT: status %d, Allow %q; want 405, GET, HEAD", w.Code, w.Header().Get("Allow"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	for _, target := range []string{"/", "/nowhere", "/healthz", "/static/favicon.svg"} {
		w := get(t, h, http.MethodGet, target, nil)
		want := map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "same-origin",
			"Content-Security-Policy": contentSecurityPolicy,
		}
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", target, k, got, v)
			}
		}
		if got := w.Header().Get("Strict-Transport-Security"); got != "" {
			t.Errorf("GET %s without X-Forwarded-Proto: HSTS %q", target, got)
		}
	}
	for _, directive := range []string{"default-src 'none'", "style-src 'self'", "img-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(contentSecurityPolicy, directive) {
			t.Errorf("CSP lacks %s", directive)
		}
	}
}

func TestSSLRedirect(t *testing.T) {
	tests := []struct {
		name     string
		redirect bool
		proto    string
		wantCode int
		wantLoc  string
		wantHSTS bool
	}{
		{"behind router over http", true, "http", http.StatusMovedPermanently, "https://example.com/lettings/?page=2", false},
		{"behind router over https", true, "https", http.StatusOK, "", true},
		{"direct", true, "", http.StatusOK, "", false},
		{"disabled, http", false, "http", http.StatusOK, "", false},
		{"disabled, https", false, "https", http.StatusOK, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestSite(t, Options{SecureSSLRedirect: tt.redirect}, nil)
			header := http.Header{}
			if tt.proto != "" {
				header.Set("X-Forwarded-Proto", tt.proto)
			}
			w := get(t, h, http.MethodGet, "http://example.com/lettings/?page=2", header)
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d", w.Code, tt.wantCode)
			}
			if got := w.Header().Get("Location"); got != tt.wantLoc {
				t.Errorf("Location = %q, want %q", got, tt.wantLoc)
			}
			if got := w.Header().Get("Strict-Transport-Security") != ""; got != tt.wantHSTS {
				t.Errorf("HSTS sent: %v, want %v", got, tt.wantHSTS)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	h := newTestSite(t, Options{}, &logs)
	heroku := "0b4a6ee8-2a64-4d9c-8c2e-b1cbb6c5a1f2"
	tests := []struct {
		name, incoming string
		keep           bool
	}{
		{"heroku's", heroku, true},
		{"other valid", "abcdefghij+/=-0123456789", true},
		{"none", "", false},
		{"too short", "abc", false},
		{"bad characters", "0b4a6ee8 2a64 4d9c 8c2e <script>", false},
		{"too long", strings.Repeat("a", 201), false},
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			header := http.Header{}
			if tt.incoming != "" {
				header.Set("X-Request-ID", tt.incoming)
			}
			w := get(t, h, http.MethodGet, "/lettings/", header)
			got := w.Header().Get("X-Request-ID")
			if tt.keep && got != tt.incoming {
				t.Errorf("X-Request-ID = %q, want the incoming %q", got, tt.incoming)
			}
			if !tt.keep && !uuid.MatchString(got) {
				t.Errorf("X-Request-ID = %q, want a generated UUID", got)
			}
			var rec map[string]any
			if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
				t.Fatalf("access log %q: %v", logs.String(), err)
			}
			if rec["request_id"] != got {
				t.Errorf("logged request_id %v, response has %q", rec["request_id"], got)
			}
		})
	}
	if a, b := newRequestID(), newRequestID(); a == b {
		t.Errorf("two generated request IDs are equal: %s", a)
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	h := newTestSite(t, Options{}, &logs)
	stylesheet, err := newAssets(t).URL("css/site.css")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target, path string
		status               int
	}{
		{http.MethodGet, "/profiles/nobody/?q=1", "/profiles/nobody/", http.StatusNotFound},
		{http.MethodGet, "/lettings/", "/lettings/", http.StatusOK},
		{http.MethodGet, stylesheet, stylesheet, http.StatusOK}, // written by http.ServeContent
		{http.MethodHead, stylesheet, stylesheet, http.StatusOK},
	}
	for _, tt := range tests {
		logs.Reset()
		w := get(t, h, tt.method, tt.target, nil)
		var rec struct {
			Level      string `json:"level"`
			Msg        string `json:"msg"`
			Method     string `json:"method"`
			Path       string `json:"path"`
			Status     int    `json:"status"`
			Bytes      int    `json:"bytes"`
			DurationUS *int64 `json:"duration_us"`
			RequestID  string `json:"request_id"`
		}
		if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
			t.Fatalf("%s %s: access log %q is not one JSON record: %v", tt.method, tt.target, logs.String(), err)
		}
		if rec.Level != "INFO" || rec.Msg != "request" || rec.Method != tt.method || rec.Path != tt.path ||
			rec.Status != tt.status || w.Code != tt.status || rec.Bytes != w.Body.Len() || rec.DurationUS == nil ||
			rec.RequestID != w.Header().Get("X-Request-ID") {
			t.Errorf("%s %s: access log record %s does not describe the response (%d, %d bytes)",
				tt.method, tt.target, logs.String(), w.Code, w.Body.Len())
		}
	}
}

func TestPanicServesErrorPage(t *testing.T) {
	var logs bytes.Buffer
	var reported any
	report := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					reported = v
					panic(v)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
	h := newTestSite(t, Options{SentryDebugRoute: true, ReportPanics: report}, &logs)
	w := get(t, h, http.MethodGet, "/sentry-debug/", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	body := w.Body.String()
	if got := title(body); got != "Something went wrong | Orange County Lettings" {
		t.Errorf("title = %q, want the 500 page's", got)
	}
	if id := w.Header().Get("X-Request-ID"); id == "" || !strings.Contains(body, id) {
		t.Errorf("500 page does not show the request ID %q", id)
	}
	if w.Header().Get("X-Frame-Options") != "DENY" {
		t.Error("500 page lacks the security headers")
	}
	if err, _ := reported.(error); !errors.Is(err, errSentryDebug) {
		t.Errorf("reporter saw %v, want errSentryDebug", reported)
	}
	if !strings.Contains(logs.String(), `"msg":"panic serving request"`) || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("logs lack the panic or the 500: %s", logs.String())
	}
	// The site keeps serving.
	if w := get(t, h, http.MethodGet, "/", nil); w.Code != http.StatusOK {
		t.Errorf("after a panic, GET / = %d", w.Code)
	}
}

func TestPanicDropsRepresentationHeaders(t *testing.T) {
	h := newTestSite(t, Options{ReportPanics: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("ETag", `"abc"`)
			panic("failed before writing")
		})
	}}, nil)
	w := get(t, h, http.MethodGet, "/", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	for _, name := range []string{"Content-Encoding", "ETag"} {
		if v := w.Header().Get(name); v != "" {
			t.Errorf("500 page sent with %s: %q", name, v)
		}
	}
}

func TestPanicAfterWriteAbortsResponse(t *testing.T) {
	var logs bytes.Buffer
	h := newTestSite(t, Options{ReportPanics: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			panic("late failure")
		})
	}}, &logs)
	defer func() {
		v := recover()
		if err, ok := v.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
		if !strings.Contains(logs.String(), "late failure") {
			t.Errorf("panic not logged: %s", logs.String())
		}
	}()
	get(t, h, http.MethodGet, "/", nil)
}

func TestSentryDebugRouteOffByDefault(t *testing.T) {
	h := newTestSite(t, Options{}, nil)
	if w := get(t, h, http.MethodGet, "/sentry-debug/", nil); w.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", w.Code)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New(Options{}) succeeded")
	}
}

func newAssets(t testing.TB) *static.Assets {
	t.Helper()
	a, err := static.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
