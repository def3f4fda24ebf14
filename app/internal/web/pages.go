package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
)

// home serves the welcome page.
func (s *site) home(w http.ResponseWriter, _ *http.Request) {
	writeHTML(w, http.StatusOK, s.homeBody)
}

// lettings serves the list of lettings.
func (s *site) lettings(w http.ResponseWriter, r *http.Request) {
	ls, err := s.store.Lettings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.lettingsPage.render("", ls, "Lettings", "lettings")
	s.writePage(w, r, body, err)
}

// letting serves one letting, /lettings/{id}/.
func (s *site) letting(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("id")
	id, ok := parseID(key)
	if !ok {
		s.notFound(w, r)
		return
	}
	l, err := s.store.Letting(r.Context(), id)
	if err != nil {
		s.failOrNotFound(w, r, err)
		return
	}
	body, err := s.lettingPage.render(key, l, l.Title, "lettings")
	s.writePage(w, r, body, err)
}

// profiles serves the list of profiles.
func (s *site) profiles(w http.ResponseWriter, r *http.Request) {
	ps, err := s.store.Profiles(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.profilesPage.render("", ps, "Profiles", "profiles")
	s.writePage(w, r, body, err)
}

// profile serves one profile, /profiles/{username}/.
func (s *site) profile(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.Profile(r.Context(), r.PathValue("username"))
	if err != nil {
		s.failOrNotFound(w, r, err)
		return
	}
	body, err := s.profilePage.render(p.Username, p, p.Username, "profiles")
	s.writePage(w, r, body, err)
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

// parseID parses a letting ID written in canonical decimal form: digits only,
// no sign, no leading zero, small enough for an int.
func parseID(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.Atoi(s)
	return id, err == nil
}

// writePage writes a rendered page with status 200, or the 500 page if
// rendering failed.
func (s *site) writePage(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeHTML(w, http.StatusOK, body)
}

// failOrNotFound answers with the 404 page when err says the item does not
// exist, and with the 500 page otherwise.
func (s *site) failOrNotFound(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, catalogue.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	s.fail(w, r, err)
}

// fail logs and reports err, and answers with the 500 page.
func (s *site) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
		slog.String("path", r.URL.Path),
		slog.String("request_id", w.Header().Get(headerRequestID)),
		slog.Any("error", err))
	if s.reportError != nil {
		s.reportError(r.Context(), err)
	}
	s.serverError(w, r)
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
