// Package herokutest provides a fake Heroku Platform API for tests, in the
// manner of net/http/httptest: NewServer starts it on a loopback port, and
// its URL goes where https://api.heroku.com would.
//
// The fake follows the published contract (the schema in heroku-go, the
// Platform API reference and the Heroku CLI) for the calls the pipeline
// makes: it checks the bearer token and the Accept header of every request,
// answers errors as {"id": ..., "message": ...}, lists releases by Range
// (version, order, max) with Content-Range and Next-Range, and keeps apps,
// config vars and releases with versions, statuses and the current one.
// A docker-releases formation update is accepted only for an image whose
// config digest the app's repository holds (see Images), and makes no new
// release when that image is already current.
//
// Tests script it: PlanRelease decides how the next release ends (failed,
// pending for a while, with release phase output behind a stream that
// answers 404 at first), Fail injects error answers such as 429 with
// Retry-After, 401 or 500, and Requests returns what it received.
package herokutest

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// The Accept headers the API takes: the plain version 3 and the variant
// that allows docker_image in a formation update.
const (
	Accept               = "application/vnd.heroku+json; version=3"
	AcceptDockerReleases = "application/vnd.heroku+json; version=3.docker-releases"
)

// Email is the address of the account the fake's key belongs to.
const Email = "deployer@example.com"

// A Server is a fake Platform API. Its URL, from the httptest.Server, is
// the base URL, such as http://127.0.0.1:40123; Close shuts it down.
type Server struct {
	*httptest.Server
	Key string // the API key it accepts, as a bearer token

	mu       sync.Mutex
	images   Images
	apps     []*app
	faults   []Fault
	plans    []ReleasePlan
	requests []Request
	now      time.Time
}

type app struct {
	App
	id      string
	created time.Time
	config  map[string]string
	// releases, oldest first.
	releases []*release
}

type release struct {
	Release
	plan    ReleasePlan
	polls   int // GETs still answered pending
	streams int // stream requests answered so far
	created time.Time
	updated time.Time
}

// App is an app as the fake holds it.
type App struct {
	Name       string
	Stack      string // default container
	BuildStack string // default Stack
	Generation string // cedar (the default), or fir, whose apps take no container images
	WebURL     string // default https://<name>.herokuapp.com/
}

// Release is a release as the fake holds it.
type Release struct {
	ID          string
	Version     int
	Status      string // pending, succeeded, failed or expired
	Current     bool
	Description string
	Image       string // config digest of the image it runs; "" for none
}

// ReleasePlan scripts a release the fake makes, by a formation update, a
// rollback or a config change.
type ReleasePlan struct {
	Status string // how it ends: succeeded (default), failed or expired
	// Polls is how many reads of the release answer pending before it
	// ends; -1 keeps it pending until Finish.
	Polls int
	// Output is the release phase's output. When set, the release has an
	// output_stream_url that serves it.
	Output string
	// StreamMissing is how many requests to the stream answer 404 before
	// it is served, as Heroku's does for a few seconds.
	StreamMissing int
}

// Fault scripts an error answer to matching requests.
type Fault struct {
	Method string // e.g. PATCH; empty matches any method
	Path   string // e.g. /apps/x/formation; empty matches any path
	Status int    // e.g. 429, 401, 500
	// ID and Message are the error body; empty means Heroku's usual ones
	// for Status.
	ID, Message string
	RetryAfter  string // the Retry-After header, when set
	Times       int    // how many requests it answers; 0 means 1
	// Processed makes the request take effect before the error is
	// answered: an answer lost after the work was done.
	Processed bool
}

// Request is a request the fake received.
type Request struct {
	Method      string
	Path        string
	Accept      string
	Range       string
	ContentType string
	// Auth is "bearer" for the server's key as a bearer token, "other"
	// for any other Authorization header, "" for none.
	Auth   string
	Body   string
	Status int // the status the fake answered
}

// String formats the request as "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// NewServer starts a fake that accepts key. Close it when done.
func NewServer(key string) *Server {
	s := &Server{Key: key, images: &ImageMap{}, now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.Server = httptest.NewServer(s.handler())
	return s
}

// SetImages sets where the fake looks for pushed images (the stand-in for
// registry.heroku.com). The default is an empty ImageMap.
func (s *Server) SetImages(im Images) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images = im
}

// AddApp adds an app, with defaults for the fields left empty.
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addApp(a)
}

func (s *Server) addApp(a App) *app {
	if a.Stack == "" {
		a.Stack = "container"
	}
	if a.BuildStack == "" {
		a.BuildStack = a.Stack
	}
	if a.Generation == "" {
		a.Generation = "cedar"
	}
	if a.WebURL == "" {
		a.WebURL = "https://" + a.Name + ".herokuapp.com/"
	}
	ap := &app{App: a, id: newID(), created: s.tick(), config: map[string]string{}}
	s.apps = append(s.apps, ap)
	return ap
}

// App returns the app named name, as the fake now holds it.
func (s *Server) App(name string) (App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.app(name); a != nil {
		return a.App, true
	}
	return App{}, false
}

// SetWebURL changes the app's web_url, for example to a test server.
func (s *Server) SetWebURL(name, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.app(name); a != nil {
		a.WebURL = url
	}
}

// ConfigVars returns a copy of the app's config vars.
func (s *Server) ConfigVars(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if a := s.app(name); a != nil {
		for k, v := range a.config {
			out[k] = v
		}
	}
	return out
}

// AddRelease adds a finished release of image to the app, as if made
// earlier, and returns it.
func (s *Server) AddRelease(name, image, status string) Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(name)
	if a == nil {
		panic("herokutest: AddRelease to unknown app " + name)
	}
	r := s.newRelease(a, image, "Deploy "+short(image), ReleasePlan{Status: status})
	s.settle(a)
	return r.Release
}

// Releases returns the app's releases, oldest first.
func (s *Server) Releases(name string) []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Release
	if a := s.app(name); a != nil {
		for _, r := range a.releases {
			out = append(out, r.Release)
		}
	}
	return out
}

// Finish ends the app's pending release version with status.
func (s *Server) Finish(name string, version int, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.app(name); a != nil {
		for _, r := range a.releases {
			if r.Version == version {
				r.Status, r.polls, r.updated = status, 0, s.tick()
			}
		}
		s.settle(a)
	}
}

// PlanRelease scripts the next release the fake makes; plans are used in
// the order given. Releases without a plan succeed at once.
func (s *Server) PlanRelease(p ReleasePlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans = append(s.plans, p)
}

// Fail makes the fake answer matching requests with an error, before
// any fault added later.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// handler checks and records every request, answers scripted faults, and
// routes the rest.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /account", s.getAccount)
	mux.HandleFunc("POST /apps", s.createApp)
	mux.HandleFunc("GET /apps/{app}", s.withApp(s.getApp))
	mux.HandleFunc("PATCH /apps/{app}", s.withApp(s.updateApp))
	mux.HandleFunc("GET /apps/{app}/config-vars", s.withApp(s.getConfigVars))
	mux.HandleFunc("PATCH /apps/{app}/config-vars", s.withApp(s.updateConfigVars))
	mux.HandleFunc("PATCH /apps/{app}/formation", s.updateFormation) // locks s.mu itself, not while it asks the registry
	mux.HandleFunc("GET /apps/{app}/releases", s.withApp(s.listReleases))
	mux.HandleFunc("POST /apps/{app}/releases", s.withApp(s.createRelease))
	mux.HandleFunc("GET /apps/{app}/releases/{release}", s.withApp(s.getRelease))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?")
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := testenv.ReadBody(r)
		rec := testenv.NewStatusRecorder(w)
		s.mu.Lock()
		i := len(s.requests)
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: r.URL.Path, Accept: r.Header.Get("Accept"),
			Range: r.Header.Get("Range"), ContentType: r.Header.Get("Content-Type"),
			Auth: s.auth(r), Body: body,
		})
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.requests[i].Status = rec.Status
			s.mu.Unlock()
		}()

		if strings.HasPrefix(r.URL.Path, "/streams/") {
			s.stream(rec, r) // a signed URL: no credentials, any Accept
			return
		}
		w.Header().Set("Request-Id", newID())
		w.Header().Set("RateLimit-Remaining", "4499")
		fault, ok := s.fault(r)
		switch {
		case ok && !fault.Processed:
			fault.write(rec)
		case s.auth(r) != "bearer":
			writeError(rec, http.StatusUnauthorized, "unauthorized", "Invalid credentials provided.")
		case r.Header.Get("Accept") != Accept && r.Header.Get("Accept") != AcceptDockerReleases:
			writeError(rec, http.StatusBadRequest, "bad_request", "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.")
		case len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
			writeError(rec, http.StatusBadRequest, "bad_request", "Request bodies must be JSON, with Content-Type: application/json.")
		case ok && fault.Processed:
			mux.ServeHTTP(discard{header: http.Header{}}, r)
			fault.write(rec)
		default:
			mux.ServeHTTP(rec, r)
		}
	})
}

func (s *Server) auth(r *http.Request) string {
	switch h := r.Header.Get("Authorization"); {
	case h == "":
		return ""
	case h == "Bearer "+s.Key && s.Key != "":
		return "bearer"
	default:
		return "other"
	}
}

// fault returns the first scripted fault r matches, using it up.
func (s *Server) fault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && (f.Path == "" || f.Path == r.URL.Path) {
			if s.faults[i].Times--; s.faults[i].Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f, true
		}
	}
	return Fault{}, false
}

func (f Fault) write(w http.ResponseWriter) {
	id, msg := f.ID, f.Message
	if id == "" || msg == "" {
		did, dmsg := defaultError(f.Status)
		id, msg = cmp.Or(id, did), cmp.Or(msg, dmsg)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeError(w, f.Status, id, msg)
}

// usualErrors are Heroku's usual error bodies (id and message), by status.
var usualErrors = map[int][2]string{
	http.StatusUnauthorized:        {"unauthorized", "Invalid credentials provided."},
	http.StatusForbidden:           {"forbidden", "You do not have access to the app."},
	http.StatusNotFound:            {"not_found", "Couldn't find that app."},
	http.StatusUnprocessableEntity: {"invalid_params", "Invalid params."},
	http.StatusTooManyRequests:     {"rate_limit", "Your account reached the API rate limit\nPlease wait a few minutes before making new requests"},
	http.StatusServiceUnavailable:  {"unavailable", "API is temporarily unavailable."},
}

// defaultError is Heroku's usual error body for status.
func defaultError(status int) (id, message string) {
	if e, ok := usualErrors[status]; ok {
		return e[0], e[1]
	}
	if status >= 500 {
		return "internal_server_error", "Internal server error."
	}
	return "bad_request", http.StatusText(status)
}

func writeError(w http.ResponseWriter, status int, id, message string) {
	testenv.WriteJSON(w, status, map[string]string{"id": id, "message": message})
}

// discard is a ResponseWriter for a request whose answer is replaced.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// app returns the app whose name or id is ident; the caller holds s.mu.
func (s *Server) app(ident string) *app {
	for _, a := range s.apps {
		if a.Name == ident || a.id == ident {
			return a
		}
	}
	return nil
}

// tick returns the fake's clock, a second later than last time.
func (s *Server) tick() time.Time {
	s.now = s.now.Add(time.Second)
	return s.now
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func short(image string) string {
	hexPart := strings.TrimPrefix(image, "sha256:")
	if len(hexPart) > 12 {
		return hexPart[:12]
	}
	return hexPart
}

// String describes a fault, for test failure messages.
func (f Fault) String() string {
	return fmt.Sprintf("%s %s -> %d", cmp.Or(f.Method, "*"), cmp.Or(f.Path, "*"), f.Status)
}
