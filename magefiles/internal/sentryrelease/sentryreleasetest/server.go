// Package sentryreleasetest provides a fake of Sentry's release API for
// tests, in the manner of net/http/httptest.
//
// It follows Sentry's published API for the calls sentryrelease makes:
// POST /api/0/organizations/{org}/releases/ (201 when created, 208 when the
// release exists), PUT .../releases/{version}/ and POST
// .../releases/{version}/deploys/ (201), with a bearer token, JSON bodies
// and errors as {"detail": "..."}.
package sentryreleasetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// A Server is a fake Sentry API for one organisation and project.
type Server struct {
	URL     string // base URL, for sentryrelease.Config.URL
	Token   string // the auth token it accepts
	Org     string
	Project string

	srv *httptest.Server

	mu       sync.Mutex
	releases map[string]*Release
	requests []Request
	fail     int // answer every request with this status, when not 0
}

// Release is a release as the fake holds it.
type Release struct {
	Version      string
	Projects     []string
	Ref          string
	DateReleased string // "" until finalised
	Deploys      []Deploy
}

// Deploy is a recorded deploy.
type Deploy struct {
	Environment, Name, URL    string
	DateStarted, DateFinished string
}

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string // as sent, escaped
	Bearer bool   // whether it carried the server's token as a bearer token
	Body   string
	Status int
}

// String formats the request as "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// NewServer starts a fake for org and project that accepts token.
func NewServer(token, org, project string) *Server {
	s := &Server{Token: token, Org: org, Project: project, releases: map[string]*Release{}}
	mux := http.NewServeMux()
	prefix := "/api/0/organizations/{org}/releases/"
	mux.HandleFunc("POST "+prefix, s.inOrg(s.createRelease))
	mux.HandleFunc("PUT "+prefix+"{version}/", s.inOrg(s.withRelease(s.updateRelease)))
	mux.HandleFunc("POST "+prefix+"{version}/deploys/", s.inOrg(s.withRelease(s.createDeploy)))
	mux.HandleFunc("/", notFound)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := testenv.ReadBody(r)
		bearer := r.Header.Get("Authorization") == "Bearer "+s.Token
		rec := testenv.NewStatusRecorder(w)
		s.mu.Lock()
		fail := s.fail
		s.mu.Unlock()
		switch {
		case fail != 0:
			detail(rec, fail, http.StatusText(fail))
		case !bearer:
			detail(rec, http.StatusUnauthorized, "Invalid token")
		default:
			mux.ServeHTTP(rec, r)
		}
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Bearer: bearer, Body: body, Status: rec.Status})
		s.mu.Unlock()
	}))
	s.URL = s.srv.URL + "/"
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// FailWith makes the fake answer every request with status (0 stops it).
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = status
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Release returns the release version, as the fake holds it.
func (s *Server) Release(version string) (Release, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.releases[version]
	if !ok {
		return Release{}, false
	}
	out := *r
	out.Projects = slices.Clone(r.Projects)
	out.Deploys = slices.Clone(r.Deploys)
	return out, true
}

// inOrg answers 404 for an organisation other than the fake's.
func (s *Server) inOrg(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("org") != s.Org {
			notFound(w, r)
			return
		}
		h(w, r)
	}
}

// withRelease finds the {version} of the path, or answers 404, and calls h
// with s.mu held.
func (s *Server) withRelease(h func(http.ResponseWriter, *http.Request, *Release)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if rel, ok := s.releases[r.PathValue("version")]; ok {
			h(w, r, rel)
		} else {
			notFound(w, r)
		}
	}
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Version      string   `json:"version"`
		Projects     []string `json:"projects"`
		Ref          string   `json:"ref"`
		DateReleased string   `json:"dateReleased"`
	}
	if !decode(w, r, &body) {
		return
	}
	switch {
	case body.Version == "" || strings.ContainsAny(body.Version, "/\n\t") || body.Version == "." || body.Version == "..":
		testenv.WriteJSON(w, http.StatusBadRequest, map[string][]string{"version": {"Release with name " + body.Version + " is not allowed"}})
		return
	case len(body.Projects) == 0:
		testenv.WriteJSON(w, http.StatusBadRequest, map[string][]string{"projects": {"This field is required."}})
		return
	}
	for _, p := range body.Projects {
		if p != s.Project {
			testenv.WriteJSON(w, http.StatusBadRequest, map[string][]string{"projects": {"Invalid project ids or slugs: " + p}})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rel, exists := s.releases[body.Version]
	if !exists {
		rel = &Release{Version: body.Version, Ref: body.Ref, DateReleased: body.DateReleased}
		s.releases[body.Version] = rel
	}
	for _, p := range body.Projects {
		if !slices.Contains(rel.Projects, p) {
			rel.Projects = append(rel.Projects, p)
		}
	}
	status := http.StatusCreated
	if exists {
		status = http.StatusAlreadyReported // Sentry's answer for an existing release
	}
	testenv.WriteJSON(w, status, releaseJSON(rel))
}

func (s *Server) updateRelease(w http.ResponseWriter, r *http.Request, rel *Release) {
	var body struct {
		DateReleased *string `json:"dateReleased"`
		Ref          *string `json:"ref"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.DateReleased != nil {
		rel.DateReleased = *body.DateReleased
	}
	if body.Ref != nil {
		rel.Ref = *body.Ref
	}
	testenv.WriteJSON(w, http.StatusOK, releaseJSON(rel))
}

func (s *Server) createDeploy(w http.ResponseWriter, r *http.Request, rel *Release) {
	var body struct {
		Environment  string `json:"environment"`
		Name         string `json:"name"`
		URL          string `json:"url"`
		DateStarted  string `json:"dateStarted"`
		DateFinished string `json:"dateFinished"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Environment == "" {
		testenv.WriteJSON(w, http.StatusBadRequest, map[string][]string{"environment": {"This field is required."}})
		return
	}
	d := Deploy{Environment: body.Environment, Name: body.Name, URL: body.URL, DateStarted: body.DateStarted, DateFinished: body.DateFinished}
	rel.Deploys = append(rel.Deploys, d)
	testenv.WriteJSON(w, http.StatusCreated, map[string]any{
		"id": "1", "environment": d.Environment, "name": nilIfEmpty(d.Name), "url": nilIfEmpty(d.URL),
		"dateStarted": nilIfEmpty(d.DateStarted), "dateFinished": d.DateFinished,
	})
}

func releaseJSON(rel *Release) map[string]any {
	projects := make([]map[string]string, len(rel.Projects))
	for i, p := range rel.Projects {
		projects[i] = map[string]string{"slug": p, "name": p}
	}
	return map[string]any{
		"version": rel.Version, "shortVersion": rel.Version, "ref": nilIfEmpty(rel.Ref),
		"dateReleased": nilIfEmpty(rel.DateReleased), "projects": projects,
		"deployCount": len(rel.Deploys),
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decode reads the JSON body of r into v, or answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		detail(w, http.StatusBadRequest, "Malformed JSON: "+err.Error())
		return false
	}
	return true
}

// detail answers status with Sentry's error body.
func detail(w http.ResponseWriter, status int, message string) {
	testenv.WriteJSON(w, status, map[string]string{"detail": message})
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	detail(w, http.StatusNotFound, "The requested resource does not exist")
}
