package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// css is big and repetitive enough for gzip to pay off.
var css = []byte(strings.Repeat("body { margin: 0; padding: 0; }\n", 50))

func testAssets(t *testing.T) *Assets {
	t.Helper()
	a, err := New(fstest.MapFS{
		"css/site.css": {Data: css},
		"tiny.txt":     {Data: []byte("hi")},
	}, "/static/")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// notFound stands in for the site's 404 page.
var notFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "custom 404", http.StatusNotFound)
})

func serve(t *testing.T, a *Assets, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	a.Handler(notFound).ServeHTTP(w, r)
	return w
}

func TestURLIsContentHashed(t *testing.T) {
	a := testAssets(t)
	u, err := a.URL("css/site.css")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(css)
	want := "/static/css/site." + hex.EncodeToString(sum[:6]) + ".css"
	if u != want {
		t.Errorf("URL = %q, want %q", u, want)
	}
	if _, err := a.URL("css/missing.css"); err == nil {
		t.Error("URL of a missing file succeeded, want an error")
	}
}

func TestHashedName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"css/site.css", "css/site.abc.css"},
		{"favicon.svg", "favicon.abc.svg"},
		{"LICENSE", "LICENSE.abc"},
		{"a.b/c.min.js", "a.b/c.min.abc.js"},
	}
	for _, tt := range tests {
		if got := HashedName(tt.name, "abc"); got != tt.want {
			t.Errorf("HashedName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestServeHashed(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	w := serve(t, a, http.MethodGet, u, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	want := map[string]string{
		"Cache-Control":    "public, max-age=31536000, immutable",
		"Content-Type":     "text/css; charset=utf-8",
		"Vary":             "Accept-Encoding",
		"Content-Encoding": "",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !regexp.MustCompile(`^"[0-9a-f]{12}"$`).MatchString(w.Header().Get("ETag")) {
		t.Errorf("ETag = %q, want a quoted hash", w.Header().Get("ETag"))
	}
	if !bytes.Equal(w.Body.Bytes(), css) {
		t.Error("body differs from the file")
	}
}

func TestServePlainNameCachesBriefly(t *testing.T) {
	a := testAssets(t)
	w := serve(t, a, http.MethodGet, "/static/css/site.css", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got := w.Header().Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("Cache-Control = %q, want a short max-age", got)
	}
}

func TestServeGzip(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	w := serve(t, a, http.MethodGet, u, http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got := w.Header().Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
		t.Errorf("Vary = %q, want Accept-Encoding", got)
	}
	if w.Body.Len() >= len(css) {
		t.Errorf("gzip body is %d bytes, not smaller than %d", w.Body.Len(), len(css))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, css) {
		t.Error("decompressed body differs from the file")
	}
	identity := serve(t, a, http.MethodGet, u, nil)
	if w.Header().Get("ETag") == identity.Header().Get("ETag") {
		t.Error("gzip and identity responses share an ETag")
	}
}

func TestServeSmallFileUncompressed(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("tiny.txt")
	w := serve(t, a, http.MethodGet, u, http.Header{"Accept-Encoding": {"gzip"}})
	if got := w.Header().Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding = %q for a file gzip cannot shrink", got)
	}
	if w.Body.String() != "hi" {
		t.Errorf("body = %q, want hi", w.Body.String())
	}
}

func TestServeNotModified(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	for _, enc := range []string{"", "gzip"} {
		first := serve(t, a, http.MethodGet, u, http.Header{"Accept-Encoding": {enc}})
		etag := first.Header().Get("ETag")
		tests := []struct {
			ifNoneMatch string
			want        int
		}{
			{etag, http.StatusNotModified},
			{`"other", ` + etag, http.StatusNotModified},
			{"W/" + etag, http.StatusNotModified},
			{"*", http.StatusNotModified},
			{`"other"`, http.StatusOK},
		}
		for _, tt := range tests {
			w := serve(t, a, http.MethodGet, u, http.Header{
				"Accept-Encoding": {enc}, "If-None-Match": {tt.ifNoneMatch},
			})
			if w.Code != tt.want {
				t.Errorf("encoding %q, If-None-Match %s: status %d, want %d", enc, tt.ifNoneMatch, w.Code, tt.want)
			}
			if tt.want == http.StatusNotModified {
				if w.Body.Len() != 0 {
					t.Errorf("304 with a %d-byte body", w.Body.Len())
				}
				for k, v := range map[string]string{
					"ETag":             etag,
					"Vary":             "Accept-Encoding",
					"Cache-Control":    "public, max-age=31536000, immutable",
					"Content-Encoding": "",
					"Content-Type":     "",
				} {
					if got := w.Header().Get(k); got != v {
						t.Errorf("encoding %q: 304 %s = %q, want %q", enc, k, got, v)
					}
				}
			}
		}
	}
}

// TestServeRange checks Range requests on both variants: a range of the gzip
// variant is a range of its gzip bytes, and If-Range only matches the ETag of
// the variant being served.
func TestServeRange(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	identity := serve(t, a, http.MethodGet, u, nil)
	gzipped := serve(t, a, http.MethodGet, u, http.Header{"Accept-Encoding": {"gzip"}})
	gz := gzipped.Body.Bytes()
	tests := []struct {
		name         string
		header       http.Header
		wantStatus   int
		wantRange    string
		wantEncoding string
		wantBody     []byte
	}{
		{
			"identity",
			http.Header{"Range": {"bytes=0-9"}},
			http.StatusPartialContent, "bytes 0-9/1600", "", css[:10],
		},
		{
			"gzip",
			http.Header{"Range": {"bytes=0-9"}, "Accept-Encoding": {"gzip"}},
			http.StatusPartialContent, fmt.Sprintf("bytes 0-9/%d", len(gz)), "gzip", gz[:10],
		},
		{
			"gzip, If-Range of the gzip variant",
			http.Header{"Range": {"bytes=10-"}, "Accept-Encoding": {"gzip"}, "If-Range": {gzipped.Header().Get("ETag")}},
			http.StatusPartialContent, fmt.Sprintf("bytes 10-%d/%d", len(gz)-1, len(gz)), "gzip", gz[10:],
		},
		{
			"gzip, If-Range of the identity variant",
			http.Header{"Range": {"bytes=10-"}, "Accept-Encoding": {"gzip"}, "If-Range": {identity.Header().Get("ETag")}},
			http.StatusOK, "", "gzip", gz,
		},
		{
			"identity, If-Range of the gzip variant",
			http.Header{"Range": {"bytes=10-"}, "If-Range": {gzipped.Header().Get("ETag")}},
			http.StatusOK, "", "", css,
		},
		{
			"gzip, unsatisfiable",
			http.Header{"Range": {"bytes=99999-"}, "Accept-Encoding": {"gzip"}},
			http.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("bytes */%d", len(gz)), "", nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, a, http.MethodGet, u, tt.header)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Content-Range"); got != tt.wantRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.wantRange)
			}
			if got := w.Header().Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tt.wantEncoding)
			}
			if tt.wantBody != nil && !bytes.Equal(w.Body.Bytes(), tt.wantBody) {
				t.Errorf("body is %d bytes, want %d bytes of the variant", w.Body.Len(), len(tt.wantBody))
			}
		})
	}
}

func TestServeHead(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	w := serve(t, a, http.MethodHead, u, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got := w.Header().Get("Content-Length"); got != "1600" {
		t.Errorf("Content-Length = %q, want 1600", got)
	}
	if w.Body.Len() != 0 {
		t.Errorf("HEAD response has a %d-byte body", w.Body.Len())
	}
}

func TestServeUnknownIsNotFound(t *testing.T) {
	a := testAssets(t)
	for _, target := range []string{
		"/static/",
		"/static/css/",
		"/static/css/site.000000000000.css",
		"/static/css/site.css/",
		"/static/../static/css/site.css",
		"/static/%2e%2e/go.mod",
		"/static//etc/passwd",
		"/other/css/site.css",
	} {
		w := serve(t, a, http.MethodGet, target, nil)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "custom 404") {
			t.Errorf("GET %s: status %d body %q, want the custom 404", target, w.Code, w.Body.String())
		}
	}
}

func TestEmbedded(t *testing.T) {
	a, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for name, wantType := range map[string]string{
		"css/site.css": "text/css; charset=utf-8",
		"favicon.svg":  "image/svg+xml",
	} {
		u, err := a.URL(name)
		if err != nil {
			t.Fatal(err)
		}
		w := serve(t, a, http.MethodGet, u, http.Header{"Accept-Encoding": {"gzip"}})
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != wantType {
			t.Errorf("GET %s: status %d, type %q; want 200 %q", u, w.Code, w.Header().Get("Content-Type"), wantType)
		}
		if w.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: not served gzipped", u)
		}
	}
}

func TestNewRejectsBadPrefix(t *testing.T) {
	for _, prefix := range []string{"", "static/", "/static"} {
		if _, err := New(fstest.MapFS{}, prefix); err == nil {
			t.Errorf("New with prefix %q succeeded", prefix)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=bad", false},
		{"gzip;q=2", false},
		{"deflate", false},
		{"identity", false},
		{"*", true},
		{"*;q=0", false},
		{"*, gzip;q=0", false},
		{"gzipx", false},
	}
	for _, tt := range tests {
		if got := AcceptsGzip(tt.header); got != tt.want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func BenchmarkServeHashedGzip(b *testing.B) {
	a, err := Embedded()
	if err != nil {
		b.Fatal(err)
	}
	u, _ := a.URL("css/site.css")
	h := a.Handler(notFound)
	r := httptest.NewRequest(http.MethodGet, u, nil)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
	}
}

// TestServeWholeMatchesServeContent checks that a request ServeContent would
// have nothing to act on gets from the shortcut exactly what ServeContent
// sends: status, headers and body, for both variants, GET and HEAD.
func TestServeWholeMatchesServeContent(t *testing.T) {
	a := testAssets(t)
	u, _ := a.URL("css/site.css")
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, enc := range []string{"", "gzip"} {
			got := serve(t, a, method, u, http.Header{"Accept-Encoding": {enc}})
			f := a.files[strings.TrimPrefix(u, "/static/")]
			v := &f.identity
			if enc != "" {
				v = f.gzip
			}
			want := httptest.NewRecorder()
			maps.Copy(want.Header(), v.header)
			http.ServeContent(want, httptest.NewRequest(method, u, nil), "", time.Time{}, bytes.NewReader(v.body))
			if enc != "" { // ServeContent leaves a coded body's length to net/http
				want.Header().Set("Content-Length", strconv.Itoa(len(v.body)))
			}
			if got.Code != want.Code || !maps.EqualFunc(got.Header(), want.Header(), slices.Equal) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("%s, Accept-Encoding %q: got %d %v (%d bytes), ServeContent sends %d %v (%d bytes)", method, enc,
					got.Code, got.Header(), got.Body.Len(), want.Code, want.Header(), want.Body.Len())
			}
		}
	}
}
