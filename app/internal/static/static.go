// Package static serves the site's static files the way WhiteNoise did for
// the Django site, from memory: each file is available under a
// content-hashed URL, cached by browsers for a year, compressed with gzip once
// at start-up, and revalidated with ETags by http.ServeContent.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed files
var embedded embed.FS

// Cache-Control values. Hashed URLs never change content, so browsers may keep
// them for a year without asking again; plain names may change with a deploy.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheShort     = "public, max-age=60"
)

// contentTypes fixes the types of the files the site ships, so they do not
// depend on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".ico":  "image/vnd.microsoft.icon",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
}

// Assets is a set of static files held in memory and served over HTTP.
// It is safe for concurrent use.
type Assets struct {
	prefix string            // URL path prefix, such as "/static/"
	files  map[string]*file  // by path below prefix, hashed and plain
	urls   map[string]string // hashed URL by logical name
}

// file is one static file: its identity bytes and, when gzip makes them
// smaller, its gzip variant. Each variant is a representation of its own,
// with its own ETag.
type file struct {
	identity variant
	gzip     *variant // nil when compression does not make the file smaller
}

// variant is one encoding of a file, with the headers it is served with.
// Responses share the header values: net/http only reads them.
type variant struct {
	body   []byte
	header http.Header
	length []string // Content-Length of the whole body
}

// Embedded returns the site's own static files, served under /static/.
func Embedded() (*Assets, error) {
	sub, err := fs.Sub(embedded, "files")
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return New(sub, "/static/")
}

// New reads every file of fsys and serves it under prefix, which must begin
// and end with a slash. A file named "css/site.css" is served as
// prefix+"css/site.<hash>.css" with far-future caching, and as
// prefix+"css/site.css" with short caching.
func New(fsys fs.FS, prefix string) (*Assets, error) {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("static: prefix %q must begin and end with a slash", prefix)
	}
	a := &Assets{prefix: prefix, files: make(map[string]*file), urls: make(map[string]string)}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		return a.add(name, body)
	})
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	return a, nil
}

// add registers body under its hashed and plain names.
func (a *Assets) add(name string, body []byte) error {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:6])
	gz, err := compress(body)
	if err != nil {
		return fmt.Errorf("compress %s: %w", name, err)
	}
	hashedName := HashedName(name, hash)
	a.files[hashedName] = newFile(name, hash, cacheImmutable, body, gz)
	a.files[name] = newFile(name, hash, cacheShort, body, gz)
	a.urls[name] = a.prefix + hashedName
	return nil
}

// newFile returns the file name with content body, whose hash is hash,
// served with cacheControl; gz, its gzip variant, is kept if smaller.
func newFile(name, hash, cacheControl string, body, gz []byte) *file {
	h := http.Header{"Accept-Ranges": {"bytes"}, "Cache-Control": {cacheControl}, "Content-Type": {contentType(name)}}
	f := &file{identity: variant{body, h, []string{strconv.Itoa(len(body))}}}
	if len(gz) < len(body) {
		h["Vary"] = []string{"Accept-Encoding"}
		zh := h.Clone()
		zh["Content-Encoding"] = []string{"gzip"}
		zh["Etag"] = []string{`"` + hash + `-gzip"`}
		f.gzip = &variant{gz, zh, []string{strconv.Itoa(len(gz))}}
	}
	h["Etag"] = []string{`"` + hash + `"`}
	return f
}

// HashedName inserts hash before the extension of name:
// "css/site.css" becomes "css/site.<hash>.css".
func HashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// compress returns body compressed with gzip at the best compression level.
func compress(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// contentType returns the media type for name's extension.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// URL returns the content-hashed URL path of the file with the given logical
// name, such as "css/site.css". Templates call it to link to assets.
func (a *Assets) URL(name string) (string, error) {
	u, ok := a.urls[name]
	if !ok {
		return "", fmt.Errorf("static: no file named %q", name)
	}
	return u, nil
}

// Handler returns a handler serving the files for GET and HEAD requests under
// the prefix. It calls notFound for any path that names no file.
func (a *Assets) Handler(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, a.prefix)
		f := a.files[name]
		if !ok || f == nil {
			notFound.ServeHTTP(w, r)
			return
		}
		f.serve(w, r)
	})
}

// serve writes the file with http.ServeContent, which answers conditional
// requests (If-None-Match with 304 Not Modified, If-Match, If-Range), Range
// requests and HEAD. It chooses the gzip variant when the client accepts it,
// and sets that variant's ETag first so that conditions are evaluated
// against it. A Range on the gzip variant selects bytes of the gzip stream:
// RFC 9110 (sections 8.4 and 14.1.2) defines byte ranges over the selected
// representation, content coding included, and each variant's own strong
// ETag keeps If-Range from mixing bytes of the two. A request with none of
// the headers ServeContent acts on, as most are, gets the whole variant at
// once, as ServeContent would send it (with a Content-Length for the gzip
// variant too, which ServeContent leaves to net/http).
func (f *file) serve(w http.ResponseWriter, r *http.Request) {
	v := &f.identity
	if f.gzip != nil && AcceptsGzip(r.Header.Get("Accept-Encoding")) {
		v = f.gzip
	}
	h := w.Header()
	maps.Copy(h, v.header)
	if !slices.ContainsFunc(conditionalHeaders, func(name string) bool { return len(r.Header[name]) > 0 }) {
		h["Content-Length"] = v.length
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(v.body) // a failed write means the client has gone
		}
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.body))
}

// conditionalHeaders are the request headers http.ServeContent acts on.
var conditionalHeaders = []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range"}

// AcceptsGzip reports whether an Accept-Encoding header value allows a gzip
// response: gzip (or x-gzip) with a non-zero quality, or failing that "*" with
// a non-zero quality.
func AcceptsGzip(acceptEncoding string) bool {
	gzipQ, starQ := -1.0, -1.0 // -1: not mentioned
	for part := range strings.SplitSeq(acceptEncoding, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := quality(params)
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// quality returns the q parameter of a list of parameters such as "q=0.5",
// 1 when absent, and 0 when malformed.
func quality(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(q >= 0 && q <= 1) {
			return 0
		}
		return q
	}
	return 1
}
