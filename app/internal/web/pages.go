package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// servePage serves the pre-rendered page at the request's path, or the 404 page.
func (s *site) servePage(w http.ResponseWriter, r *http.Request) {
	body, ok := s.pages[r.URL.Path]
	if !ok {
		s.notFound(w, r)
		return
	}
	writeHTML(w, http.StatusOK, body)
}

// healthz reports that the server is up, and which build it runs.
func (s *site) healthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(s.health)))
	_, _ = w.Write(s.health)
}

// errSentryDebug is the error /sentry-debug/ panics with.
var errSentryDebug = errors.New("sentry-debug: deliberate failure to test error reporting")

// sentryDebug panics, to check that errors reach Sentry.
func sentryDebug(http.ResponseWriter, *http.Request) {
	panic(errSentryDebug)
}

// notFound answers with the 404 page.
func (s *site) notFound(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeHTML(w, http.StatusNotFound, s.notFoundBody)
}

// methodNotAllowed answers with the 405 page, saying that only GET and HEAD
// are allowed.
func (s *site) methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	w.Header().Set("Cache-Control", "no-store")
	writeHTML(w, http.StatusMethodNotAllowed, s.notAllowedBody)
}

// serverError answers with the 500 page, which shows the request ID, or with
// plain text if even that page fails. Headers set by a handler that failed
// midway, such as Content-Encoding, are dropped: they describe a response
// that will not be sent.
func (s *site) serverError(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for _, name := range []string{"Content-Encoding", "Content-Length", "ETag", "Last-Modified", "Vary"} {
		h.Del(name)
	}
	h.Set("Cache-Control", "no-store")
	body, err := s.renderError(serverErrorContent(w.Header().Get(headerRequestID)))
	if err != nil {
		s.logger.LogAttrs(r.Context(), slog.LevelError, "500 page failed", slog.Any("error", err))
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	writeHTML(w, http.StatusInternalServerError, body)
}
