package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing but the status, so
// benchmarks measure the site rather than httptest.ResponseRecorder.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// benchmarkTarget serves target repeatedly through the whole site, access
// log included (to io.Discard).
func benchmarkTarget(b *testing.B, target string, wantStatus int) {
	h := newTestSite(b, Options{SecureSSLRedirect: true}, io.Discard)
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, r)
	}
	if w.status != wantStatus && (w.status != 0 || wantStatus != http.StatusOK) {
		b.Fatalf("GET %s: status %d, want %d", target, w.status, wantStatus)
	}
}

func BenchmarkHome(b *testing.B)     { benchmarkTarget(b, "/", http.StatusOK) }
func BenchmarkLettings(b *testing.B) { benchmarkTarget(b, "/lettings/", http.StatusOK) }
func BenchmarkLetting(b *testing.B)  { benchmarkTarget(b, "/lettings/1/", http.StatusOK) }
func BenchmarkProfiles(b *testing.B) { benchmarkTarget(b, "/profiles/", http.StatusOK) }
func BenchmarkProfile(b *testing.B)  { benchmarkTarget(b, "/profiles/dmitri/", http.StatusOK) }
func BenchmarkHealthz(b *testing.B)  { benchmarkTarget(b, "/healthz", http.StatusOK) }
func BenchmarkNotFound(b *testing.B) { benchmarkTarget(b, "/nowhere/", http.StatusNotFound) }
func BenchmarkStylesheet(b *testing.B) {
	assets := newAssets(b)
	u, err := assets.URL("css/site.css")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkTarget(b, u, http.StatusOK)
}
