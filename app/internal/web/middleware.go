package web

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// headerRequestID carries the request ID: set by Heroku's router on the way
// in, echoed by the site on the way out. Written canonically, it indexes
// header maps directly.
const headerRequestID = "X-Request-Id"

// getOnly lets GET and HEAD requests through to h and answers other methods
// with the 405 page and an Allow header.
func (s *site) getOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.methodNotAllowed(w, r)
			return
		}
		h(w, r)
	})
}

// securityHeaders are sent with every response, as Django's
// SecurityMiddleware and XFrameOptionsMiddleware did, plus a
// Content-Security-Policy that only allows the site's own styles and
// images. Responses share the values: net/http only reads them.
var securityHeaders = http.Header{
	"X-Content-Type-Options":     {"nosniff"},
	"X-Frame-Options":            {"DENY"},
	"Referrer-Policy":            {"same-origin"},
	"Cross-Origin-Opener-Policy": {"same-origin"},
	"Content-Security-Policy":    {contentSecurityPolicy},
}

const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// strictTransportSecurity is the HSTS header of responses to HTTPS requests.
var strictTransportSecurity = []string{"max-age=31536000"}

// secure adds the security headers. When sslRedirect is set it also trusts
// X-Forwarded-Proto, set by Heroku's router: requests received over plain
// HTTP are redirected to HTTPS, responses to HTTPS requests carry HSTS.
func secure(next http.Handler, sslRedirect bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		maps.Copy(h, securityHeaders)
		if sslRedirect {
			switch proto := r.Header.Get("X-Forwarded-Proto"); {
			case strings.EqualFold(proto, "http"):
				// The browser sent this Host itself: the redirect only sends it
				// where it already was, as Django's SECURE_SSL_REDIRECT does.
				http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently) //nolint:gosec // G710: the client's own Host
				return
			case strings.EqualFold(proto, "https"):
				h["Strict-Transport-Security"] = strictTransportSecurity
			}
		}
		next.ServeHTTP(w, r)
	})
}

// observe is the outermost middleware. It gives the request an ID (Heroku's,
// when valid), echoes it in the response, turns a panic into the 500 page
// and writes one access-log record.
func (s *site) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ids := r.Header[headerRequestID]
		if len(ids) == 0 || !validRequestID(ids[0]) {
			ids = []string{newRequestID()}
		}
		id := ids[0]
		w.Header()[headerRequestID] = ids
		rec := &recorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v != nil && !isAbort(v) {
				s.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("request_id", id), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				if rec.status == 0 {
					s.serverError(rec, r)
					v = nil
				}
			}
			s.logRequest(r, rec, id, time.Since(start))
			if v != nil {
				// The response has begun and cannot become an error page:
				// abort it, as net/http does for a panic.
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// logRequest writes the access-log record of a request. It hands the
// record to the handler itself, as slog's documentation shows for wrappers,
// with no caller's PC: the access log has no use for a source line, and
// finding it would cost more than the rest of the record.
func (s *site) logRequest(r *http.Request, rec *recorder, id string, took time.Duration) {
	h := s.logger.Handler()
	if !h.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	record := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	record.AddAttrs(
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Int64("duration_us", took.Microseconds()),
		slog.String("request_id", id),
	)
	_ = h.Handle(r.Context(), record) // a log that cannot be written has nowhere to report it
}

// isAbort reports whether a recovered panic value is http.ErrAbortHandler,
// with which a handler aborts its response on purpose.
func isAbort(v any) bool {
	err, ok := v.(error)
	return ok && errors.Is(err, http.ErrAbortHandler)
}

// validRequestID reports whether id has the form Heroku's router accepts for
// X-Request-ID: 20 to 200 characters from A-Z, a-z, 0-9, '+', '/', '=' and '-'.
func validRequestID(id string) bool {
	if len(id) < 20 || len(id) > 200 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '+', c == '/', c == '=', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns a random version 4 UUID, as Heroku's router generates.
// Request IDs identify, they do not protect, so math/rand is enough.
func newRequestID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64()) //nolint:gosec // G404: an ID, not a secret
	binary.BigEndian.PutUint64(b[8:], rand.Uint64()) //nolint:gosec // G404: an ID, not a secret

	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// recorder remembers the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int   // 0 until the header is written
	bytes  int64 // body bytes written
}

// WriteHeader records the first final status and passes it on.
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write records the body size, and status 200 if no status was written.
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// copyBuffers holds the buffers of recorder.ReadFrom.
var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// ReadFrom copies src into the response through a pooled buffer. Without it,
// io.Copy into a recorder, as http.ServeContent does with static files,
// would allocate a buffer the size of the body for every response.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[32 << 10]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{r}, src, buf[:])
}
