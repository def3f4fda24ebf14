// Package web is the Orange County Lettings website: routing, page handlers,
// templates, error pages and the middleware every request goes through
// (request IDs, access logs, security headers, HTTPS redirect, panic
// recovery).
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
	"github.com/oc-lettings/oc-lettings/app/internal/static"
)

// Options configures the site's handler.
type Options struct {
	// Catalogue holds the lettings and profiles the site shows. New renders
	// every page from it once, and the site serves those pages until it
	// stops: right for the read-only seed data embedded in the binary, wrong
	// for data that can change while the site runs, such as a database's.
	Catalogue catalogue.Catalogue
	// Assets are the static files, served under /static/. Required.
	Assets *static.Assets
	// Logger receives one access-log record per request, and panics.
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
}

// site holds what the handlers share. Everything but the 500 page, which
// shows the request ID, is rendered by New.
type site struct {
	logger    *slog.Logger
	errorPage *template.Template

	pages          map[string][]byte // every page of the catalogue, by URL path
	health         []byte            // the /healthz body
	notFoundBody   []byte
	notAllowedBody []byte
}

// New returns the site's handler. It parses the templates and renders every
// page, so a template, asset name or catalogue error fails start-up rather
// than a request.
func New(opts Options) (http.Handler, error) {
	if opts.Assets == nil || opts.Logger == nil {
		return nil, errors.New("web: Assets and Logger are required")
	}
	s, err := newSite(opts)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	for _, pattern := range []string{"/{$}", "/lettings/{$}", "/lettings/{id}/{$}", "/profiles/{$}", "/profiles/{username}/{$}"} {
		mux.Handle(pattern, s.getOnly(s.servePage))
	}
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

// newSite parses the templates and renders the pages and constant responses.
func newSite(opts Options) (*site, error) {
	ts, err := parseTemplates(opts.Assets.URL,
		"home.html", "lettings.html", "letting.html", "profiles.html", "profile.html", "error.html")
	if err != nil {
		return nil, err
	}
	s := &site{logger: opts.Logger, errorPage: ts["error.html"]}
	if s.pages, err = renderPages(ts, opts.Catalogue); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.health, err = json.Marshal(buildinfo.Health{Status: "ok", Version: buildinfo.Version, Commit: buildinfo.Commit})
	if err != nil {
		return nil, fmt.Errorf("web: health response: %w", err)
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

// renderPages renders the home page and every page of c, by URL path.
func renderPages(ts map[string]*template.Template, c catalogue.Catalogue) (map[string][]byte, error) {
	pages := make(map[string][]byte, 3+len(c.Lettings)+len(c.Profiles))
	var err error
	add := func(path, name string, p page) {
		if err == nil {
			pages[path], err = render(ts[name], p)
		}
	}
	// The titles are the original Django site's; each page has its own description.
	add("/", "home.html", page{
		Title:       "Holiday homes",
		Description: "Holiday homes to rent on the Orange County coast, from Huntington Beach to San Clemente.",
		Section:     "home",
	})
	add("/lettings/", "lettings.html", page{
		Title:       "Lettings",
		Description: "Every holiday home Orange County Lettings has to rent on the Southern California coast, with its town.",
		Section:     "lettings",
		Content:     c.Lettings,
	})
	for _, l := range c.Lettings {
		a := l.Address
		add("/lettings/"+strconv.Itoa(l.ID)+"/", "letting.html", page{
			Title: l.Title,
			Description: fmt.Sprintf("%s: a holiday home to rent at %d %s, %s, %s %s.",
				l.Title, a.Number, a.Street, a.City, a.State, a.ZipCode),
			Section: "lettings",
			Content: l,
		})
	}
	add("/profiles/", "profiles.html", page{
		Title:       "Profiles",
		Description: "Meet the people who stay in Orange County Lettings' holiday homes, and their favorite cities.",
		Section:     "profiles",
		Content:     c.Profiles,
	})
	for _, p := range c.Profiles {
		add("/profiles/"+p.Username+"/", "profile.html", page{
			Title: p.Username,
			Description: fmt.Sprintf("Profile of %s (%s %s) on Orange County Lettings. Favorite city: %s.",
				p.Username, p.FirstName, p.LastName, p.FavoriteCity),
			Section: "profiles",
			Content: p,
		})
	}
	return pages, err
}

// renderError renders the error page for c.
func (s *site) renderError(c errorContent) ([]byte, error) {
	return render(s.errorPage, page{Title: c.Heading, Description: c.Message, Content: c})
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
