// Package web is the Orange County Lettings website: routing, page handlers,
// templates, error pages and the middleware every request goes through
// (request IDs, access logs, security headers, HTTPS redirect, panic
// recovery).
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
	"github.com/oc-lettings/oc-lettings/app/internal/static"
)

// Options configures the site's handler.
type Options struct {
	// Store provides lettings and profiles. Required.
	Store catalogue.Store
	// Assets are the static files, served under /static/. Required.
	Assets *static.Assets
	// Logger receives one access-log record per request and handler errors.
	// Required.
	Logger *slog.Logger
	// SecureSSLRedirect redirects requests that Heroku's router received over
	// plain HTTP (X-Forwarded-Proto: http) to HTTPS, and sends HSTS on those
	// it received over HTTPS.
	SecureSSLRedirect bool
	// SentryDebugRoute enables /sentry-debug/, which panics on purpose.
	SentryDebugRoute bool
	// ReportPanics, when set, wraps the router to report panics, such as to
	// Sentry. It must panic again after reporting, so that the site can answer
	// with its 500 page.
	ReportPanics func(http.Handler) http.Handler
	// ReportError, when set, is called with the error behind every 500 page
	// that is not a panic, such as a failing store.
	ReportError func(ctx context.Context, err error)
}

// site holds what the handlers share.
type site struct {
	store       catalogue.Store
	logger      *slog.Logger
	reportError func(context.Context, error) // nil when not reporting

	lettingsPage *pageCache[[]catalogue.Letting]
	lettingPage  *pageCache[catalogue.Letting]
	profilesPage *pageCache[[]catalogue.Profile]
	profilePage  *pageCache[catalogue.Profile]
	errorPage    *template.Template

	// Responses that never change, rendered by New.
	health         []byte // the /healthz body
	homeBody       []byte
	notFoundBody   []byte
	notAllowedBody []byte
}

// New returns the site's handler. It parses the templates and renders the
// constant pages, so a template or asset name error fails start-up rather
// than a request.
func New(opts Options) (http.Handler, error) {
	if opts.Store == nil || opts.Assets == nil || opts.Logger == nil {
		return nil, errors.New("web: Store, Assets and Logger are required")
	}
	s, err := newSite(opts)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/{$}", s.getOnly(s.home))
	mux.Handle("/lettings/{$}", s.getOnly(s.lettings))
	mux.Handle("/lettings/{id}/{$}", s.getOnly(s.letting))
	mux.Handle("/profiles/{$}", s.getOnly(s.profiles))
	mux.Handle("/profiles/{username}/{$}", s.getOnly(s.profile))
	mux.Handle("/healthz", s.getOnly(s.healthz))
	mux.Handle("/static/", s.getOnly(opts.Assets.Handler(http.HandlerFunc(s.notFound)).ServeHTTP))
	if opts.SentryDebugRoute {
		mux.Handle("/sentry-debug/{$}", s.getOnly(sentryDebug))
	}
	mux.HandleFunc("/", s.notFound)

	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			// The target of a CONNECT request is a host, which no route matches.
			s.methodNotAllowed(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	if opts.ReportPanics != nil {
		h = opts.ReportPanics(h)
	}
	h = secure(h, opts.SecureSSLRedirect)
	return s.observe(h), nil
}

// newSite parses the templates and renders the constant responses.
func newSite(opts Options) (*site, error) {
	ts, err := parseTemplates(opts.Assets.URL,
		"home.html", "lettings.html", "letting.html", "profiles.html", "profile.html", "error.html")
	if err != nil {
		return nil, err
	}
	s := &site{
		store:        opts.Store,
		logger:       opts.Logger,
		reportError:  opts.ReportError,
		lettingsPage: newPageCache(ts["lettings.html"], slices.Equal[[]catalogue.Letting]),
		lettingPage:  newPageCache(ts["letting.html"], func(a, b catalogue.Letting) bool { return a == b }),
		profilesPage: newPageCache(ts["profiles.html"], slices.Equal[[]catalogue.Profile]),
		profilePage:  newPageCache(ts["profile.html"], func(a, b catalogue.Profile) bool { return a == b }),
		errorPage:    ts["error.html"],
	}
	s.health, err = json.Marshal(struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		Commit  string `json:"commit"`
	}{"ok", buildinfo.Version, buildinfo.Commit})
	if err != nil {
		return nil, fmt.Errorf("web: health response: %w", err)
	}
	s.homeBody, err = render(ts["home.html"], page{Title: "Holiday homes", Section: "home"})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.notFoundBody, err = s.renderError(errorContent{
		Status:  http.StatusNotFound,
		Heading: "Page not found",
		Message: "We could not find the page you asked for. It may have moved, or the address may be mistyped.",
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.notAllowedBody, err = s.renderError(errorContent{
		Status:  http.StatusMethodNotAllowed,
		Heading: "Method not allowed",
		Message: "This page can only be read.",
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	// Check that the 500 page renders, since it is only rendered on failures.
	if _, err := s.renderError(serverErrorContent("0123456789abcdef0123")); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return s, nil
}

// renderError renders the error page for c.
func (s *site) renderError(c errorContent) ([]byte, error) {
	return render(s.errorPage, page{Title: c.Heading, Content: c})
}

// serverErrorContent is the content of the 500 page for a request.
func serverErrorContent(requestID string) errorContent {
	return errorContent{
		Status:    http.StatusInternalServerError,
		Heading:   "Something went wrong",
		Message:   "Sorry, we could not show this page. The problem has been reported; please try again in a moment.",
		RequestID: requestID,
	}
}
