package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRouting sends arbitrary request lines through the whole site, parsed
// the way net/http's server parses them, and checks that no input yields a
// server error (5xx) except the Sentry test route, that 404s are the site's
// own page and 405s carry Allow. Its seed corpus runs with the normal tests:
//
//	go test -run '^$' -fuzz FuzzRouting -fuzztime 30s ./app/internal/web
func FuzzRouting(f *testing.F) {
	for _, seed := range []struct{ method, target, proto string }{
		{"GET", "/", ""},
		{"GET", "/lettings/", ""},
		{"GET", "/lettings/1/", "https"},
		{"HEAD", "/lettings/6/", ""},
		{"GET", "/lettings/0/", ""},
		{"GET", "/lettings/-1/", ""},
		{"GET", "/lettings/99999999999999999999999/", ""},
		{"GET", "/lettings/%31/", ""},
		{"GET", "/lettings/1", ""},
		{"GET", "/profiles/", "http"},
		{"GET", "/profiles/dmitri/", ""},
		{"GET", "/profiles/%2e%2e/", ""},
		{"GET", "/profiles/a%2fb/", ""},
		{"GET", "/profiles/%ff%fe/", ""},
		{"GET", "/healthz", ""},
		{"GET", "/static/favicon.svg", ""},
		{"GET", "/static/../../etc/passwd", ""},
		{"GET", "/static/%2e%2e/%2e%2e/etc/passwd", ""},
		{"GET", "/static/..%2f..%2fetc%2fpasswd", ""},
		{"GET", "//static//css//site.css", ""},
		{"GET", "/sentry-debug/", ""},
		{"GET", "/sentry-debug", ""},
		{"POST", "/lettings/", ""},
		{"DELETE", "/profiles/dmitri/", ""},
		{"OPTIONS", "*", ""},
		{"CONNECT", "example.com:443", ""},
		{"GET", "http://example.com/lettings/?x=1", "HTTP"},
		{"GET", "/?%zz", ""},
		{"GET", "/\x00", ""},
		{"BREW", "/coffee", ""},
	} {
		f.Add(seed.method, seed.target, seed.proto)
	}
	h := newTestSite(f, Options{SentryDebugRoute: true, SecureSSLRedirect: true}, nil)
	f.Fuzz(func(t *testing.T, method, target, proto string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n"
		if proto != "" {
			raw += "X-Forwarded-Proto: " + proto + "\r\n"
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return // net/http's server answers 400 without calling the site
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		sentryRoute := r.URL.Path == "/sentry-debug/" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		switch {
		case w.Code >= 500 && !sentryRoute:
			t.Errorf("%q %q (X-Forwarded-Proto %q): status %d", method, target, proto, w.Code)
		case w.Code == http.StatusNotFound && !strings.Contains(w.Body.String(), "<title>Page not found"):
			t.Errorf("%q %q: 404 without the site's 404 page: %q", method, target, w.Body.String())
		case w.Code == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "":
			t.Errorf("%q %q: 405 without Allow", method, target)
		}
		if w.Header().Get("X-Request-ID") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%q %q: status %d without the request ID or security headers", method, target, w.Code)
		}
	})
}
