// Package heroku talks to the Heroku Platform API through heroku-go: it
// checks and creates apps, releases a container image, follows the release
// and rolls it back; Platform runs mage deploy's steps on Heroku. The API
// key goes only to the configured API URL, as a bearer token.
package heroku

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	hk "github.com/heroku/heroku-go/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// ContainerStack is the stack of apps that run Docker images.
const ContainerStack = "container"

// RequestTimeout bounds the wait for one answer, so that a silent API fails
// a deploy in about a minute, retries included.
const RequestTimeout = 10 * time.Second

// Release statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusExpired   = "expired"
)

// Config says where the API is and how to authenticate.
type Config struct {
	APIURL    string                           // e.g. https://api.heroku.com (HEROKU_API_URL)
	APIKey    string                           // sent only as a bearer token (HEROKU_API_KEY)
	Transport http.RoundTripper                // nil: http.DefaultTransport's settings, RequestTimeout per answer
	Retry     RetryPolicy                      // zero fields take their defaults
	Logf      func(format string, args ...any) // told about each retry, when set
}

// RetryPolicy bounds how the client retries. After a 429 (Heroku did not
// process the request) any request whose body can be sent again is retried,
// after the answer's Retry-After or the backoff. After a 5xx answer or a
// network error only GET and HEAD are: a release or a rollback that failed
// that way may have happened, and must be checked, not repeated.
type RetryPolicy struct {
	Attempts int           // attempts in all, first included; default 4
	MinDelay time.Duration // first backoff, doubled at each retry; default 1s
	MaxDelay time.Duration // longest wait; a longer Retry-After returns the 429; default 30s
}

// Client is a Platform API client.
type Client struct {
	api    *hk.Service // Accept: application/vnd.heroku+json; version=3
	docker *hk.Service // the same, with the docker-releases variant
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	key := strings.TrimSpace(cfg.APIKey)
	if key == "" {
		return nil, errors.New("no Heroku API key: " + settings.HerokuRefused)
	}
	retry := &retryTransport{base: cfg.Transport, logf: cfg.Logf, RetryPolicy: RetryPolicy{
		Attempts: cmp.Or(max(cfg.Retry.Attempts, 0), 4),
		MinDelay: cmp.Or(max(cfg.Retry.MinDelay, 0), time.Second),
		MaxDelay: cmp.Or(max(cfg.Retry.MaxDelay, 0), 30*time.Second),
	}}
	if retry.base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = RequestTimeout
		retry.base = t
	}
	service := func(extra http.Header) *hk.Service {
		s := hk.NewService(&http.Client{Transport: &hk.Transport{
			BearerToken: key, UserAgent: "oc-lettings-mage " + hk.DefaultUserAgent, AdditionalHeaders: extra, Transport: retry,
		}})
		s.URL = strings.TrimSuffix(cfg.APIURL, "/")
		return s
	}
	// heroku-go's Transport sets Accept, then AdditionalHeaders: the
	// docker-releases variant needs a service of its own.
	docker := http.Header{"Accept": {"application/vnd.heroku+json; version=3.docker-releases"}}
	return &Client{api: service(nil), docker: service(docker)}, nil
}

// Account is the account an API key belongs to.
type Account struct{ Email string }

// Account returns the key's account: it tells whether the key is accepted.
func (c *Client) Account(ctx context.Context) (Account, error) {
	a, err := c.api.AccountInfo(ctx)
	if err != nil {
		return Account{}, c.fail("GET /account", err, nil)
	}
	return Account{Email: a.Email}, nil
}

// App is what the pipeline needs to know about an app.
type App struct {
	Name       string
	Stack      string // e.g. container, heroku-24
	BuildStack string
	Generation string // cedar, or fir for apps that deploy only from buildpacks
	WebURL     string
}

// IsContainer reports whether the app runs Docker images, or will from its next release.
func (a App) IsContainer() bool {
	return a.Stack == ContainerStack || a.BuildStack == ContainerStack
}

// App returns the named app, or an error that says what to do if this key cannot see it.
func (c *Client) App(ctx context.Context, name string) (App, error) {
	a, err := c.api.AppInfo(ctx, name)
	if err != nil {
		return App{}, c.fail("GET /apps/"+name, err, appNotFound(name))
	}
	return appFrom(a), nil
}

func appFrom(a *hk.App) App {
	return App{Name: a.Name, Stack: a.Stack.Name, BuildStack: a.BuildStack.Name, Generation: a.Generation.Name, WebURL: deref(a.WebURL)}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func appNotFound(app string) hints {
	return hints{http.StatusNotFound: fmt.Sprintf("app %q does not exist or this key cannot see it: check HEROKU_APP_NAME, or create the app with mage heroku:create", app)}
}

// Setup is what EnsureApp found and did.
type Setup struct {
	App       App
	Created   bool     // the app did not exist and was created
	StackSet  bool     // its build stack was switched to container
	OldStack  string   // the stack it was on, when StackSet
	Set       []string // config vars set or changed, sorted
	Unchanged []string // config vars that already had their value, sorted
}

// EnsureApp makes sure the app exists on the container stack (creating it,
// or switching its build stack as heroku stack:set does) with the given
// config vars, changing only what differs. Values are never in its result or errors.
func (c *Client) EnsureApp(ctx context.Context, name string, vars map[string]string) (Setup, error) {
	var s Setup
	var err error
	s.App, err = c.App(ctx, name)
	switch {
	case IsNotFound(err):
		a, err := c.api.AppCreate(ctx, hk.AppCreateOpts{Name: &name, Stack: hk.String(ContainerStack)})
		if err != nil {
			taken := "app names are global on Heroku: if " + name + " is taken, choose another HEROKU_APP_NAME"
			return s, c.fail("POST /apps", err, hints{http.StatusUnprocessableEntity: taken})
		}
		s.App, s.Created = appFrom(a), true
	case err != nil:
		return s, err
	case !s.App.IsContainer():
		a, err := c.api.AppUpdate(ctx, name, hk.AppUpdateOpts{BuildStack: hk.String(ContainerStack)})
		if err != nil {
			return s, fmt.Errorf("switching app %s to the container stack: %w", name, c.fail("PATCH /apps/"+name, err, nil))
		}
		s.App, s.OldStack, s.StackSet = appFrom(a), s.App.Stack, true
	}
	if len(vars) == 0 {
		return s, nil
	}
	current, err := c.api.ConfigVarInfoForApp(ctx, name)
	if err != nil {
		return s, c.fail("GET /apps/"+name+"/config-vars", err, nil)
	}
	update := map[string]*string{}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if v := current[k]; v != nil && *v == vars[k] {
			s.Unchanged = append(s.Unchanged, k)
		} else {
			update[k] = hk.String(vars[k])
			s.Set = append(s.Set, k)
		}
	}
	if len(update) > 0 {
		if _, err := c.api.ConfigVarUpdate(ctx, name, update); err != nil {
			return s, fmt.Errorf("setting the config vars %v of app %s: %w", s.Set, name, c.fail("PATCH /apps/"+name+"/config-vars", err, nil))
		}
	}
	return s, nil
}

// Release is one release of an app.
type Release struct {
	ID              string
	Version         int
	Status          string // StatusPending, StatusSucceeded, StatusFailed or StatusExpired
	Current         bool   // the release the app runs
	Description     string
	OutputStreamURL string // the release phase's output, if any; a signed URL, sent no credentials
}

// Name is the release as Heroku's tools name it: v42.
func (r Release) Name() string { return fmt.Sprintf("v%d", r.Version) }

func releaseFrom(r *hk.Release) Release {
	return Release{
		ID: r.ID, Version: r.Version, Status: r.Status, Current: r.Current, Description: r.Description, OutputStreamURL: deref(r.OutputStreamURL),
	}
}

// Releases returns the app's newest releases, newest first, at most n (1 to 1000), in one request.
func (c *Client) Releases(ctx context.Context, app string, n int) ([]Release, error) {
	list, err := c.api.ReleaseList(ctx, app, &hk.ListRange{Field: "version", Max: min(max(n, 1), 1000), Descending: true})
	if err != nil {
		return nil, c.fail("GET /apps/"+app+"/releases", err, appNotFound(app))
	}
	out := make([]Release, len(list))
	for i := range list {
		out[i] = releaseFrom(&list[i])
	}
	return out, nil
}

// Release returns the app's release id (an id or a version number).
func (c *Client) Release(ctx context.Context, app, id string) (Release, error) {
	r, err := c.api.ReleaseInfo(ctx, app, id)
	if err != nil {
		return Release{}, c.fail("GET /apps/"+app+"/releases/"+id, err, nil)
	}
	return releaseFrom(r), nil
}

// ReleaseImage releases the image imageID (its config's digest), pushed to
// the app's repository in Heroku's registry, as processType (web). Heroku
// makes no release for the image it runs. Like Rollback, it is not repeated
// after a 5xx answer or a lost connection: it may have happened.
func (c *Client) ReleaseImage(ctx context.Context, app, processType, imageID string) error {
	type update struct {
		Type        string `json:"type"`
		DockerImage string `json:"docker_image"`
	}
	body := map[string][]update{"updates": {{Type: processType, DockerImage: imageID}}}
	if err := c.docker.Patch(ctx, nil, "/apps/"+app+"/formation", body); err != nil {
		return c.fail("PATCH /apps/"+app+"/formation", err, appNotFound(app))
	}
	return nil
}

// Rollback makes a new release that runs what release id ran, as heroku rollback does.
func (c *Client) Rollback(ctx context.Context, app, id string) (Release, error) {
	r, err := c.api.ReleaseRollback(ctx, app, hk.ReleaseRollbackOpts{Release: id})
	if err != nil {
		return Release{}, c.fail("POST /apps/"+app+"/releases", err, nil)
	}
	return releaseFrom(r), nil
}

// retryTransport sits under heroku-go's Transport, to see answers before they become errors.
type retryTransport struct {
	RetryPolicy
	base http.RoundTripper
	logf func(format string, args ...any)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		wait, why := t.retryWait(req, resp, err, attempt)
		if why == "" {
			if err == nil {
				readableError(resp)
			}
			return resp, err
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		if t.logf != nil {
			t.logf("Heroku API %s %s: %s; retrying in %s", req.Method, req.URL.Path, why, wait)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil { // a fresh copy of the body
			again := req.Clone(req.Context())
			if again.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
			req = again
		}
	}
}

// retryWait says how long to wait before retrying attempt's outcome, and why ("" for no retry).
func (t *retryTransport) retryWait(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, string) {
	if attempt >= t.Attempts || req.Context().Err() != nil {
		return 0, ""
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	safe := (req.Method == http.MethodGet || req.Method == http.MethodHead) && replayable
	wait := min(t.MinDelay<<min(attempt-1, 16), t.MaxDelay)
	retried := err == nil && (resp.StatusCode == http.StatusTooManyRequests && replayable || resp.StatusCode >= 500 && safe)
	switch {
	case err != nil && safe:
		return wait, err.Error()
	case !retried:
		return 0, ""
	}
	// Retry-After is a number of seconds or an HTTP date.
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		wait = time.Duration(max(secs, 0)) * time.Second
	} else if when, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		wait = max(time.Until(when), 0)
	}
	switch {
	case wait > t.MaxDelay:
		return 0, ""
	case resp.StatusCode == http.StatusTooManyRequests:
		return wait, "rate limited (429)"
	}
	return wait, resp.Status
}

// sleep waits for d, or until ctx ends and then returns its cause.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// readableError gives an error answer the JSON body heroku-go needs to keep
// its status code: a proxy's HTML page, or an empty body, would lose it.
func readableError(resp *http.Response) {
	if resp.StatusCode < 400 {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	var e struct{ ID, Message string }
	if json.Unmarshal(body, &e) != nil || e.ID == "" && e.Message == "" {
		e.Message = resp.Status
		if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 && !strings.Contains(text, "<") {
			e.Message += ": " + text
		}
		body, _ = json.Marshal(map[string]string{"id": e.ID, "message": e.Message})
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
}

// APIError is an error answer from the Platform API, with what to do about it.
type APIError struct {
	Op      string // the request, e.g. "GET /apps/oc-lettings"
	Status  int    // HTTP status code
	ID      string // Heroku's error id, e.g. unauthorized, not_found, rate_limit
	Message string // Heroku's message
	Hint    string // what the user can do about it
}

func (e *APIError) Error() string {
	msg := cmp.Or(strings.Join(strings.Fields(e.Message), " "), http.StatusText(e.Status))
	if e.ID != "" {
		msg = e.ID + ": " + msg
	}
	msg = fmt.Sprintf("Heroku API %s: %s (HTTP %d)", e.Op, msg, e.Status)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// IsNotFound reports whether err is the API's not_found answer (404).
func IsNotFound(err error) bool { return apiError(err).Status == http.StatusNotFound }

// Hint returns what an error of this package says to do about it, or "".
func Hint(err error) string { return apiError(err).Hint }

// apiError returns the APIError in err's chain, or an empty one.
func apiError(err error) *APIError {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e
	}
	return &APIError{}
}

// hints are what to do about error answers to one request, by status.
type hints map[int]string

// fail turns heroku-go's error for op into one a user can act on, with a hint from byStatus or a general one.
func (c *Client) fail(op string, err error, byStatus hints) error {
	he, ok := errors.AsType[hk.Error](err)
	switch {
	case !ok && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return fmt.Errorf("calling the Heroku API (%s): %w", op, err)
	case !ok:
		return fmt.Errorf("calling the Heroku API (%s): no answer from %s (check HEROKU_API_URL and the network): %w", op, c.api.URL, err)
	}
	e := &APIError{Op: op, Status: he.StatusCode, ID: he.ID, Message: he.Error(), Hint: byStatus[he.StatusCode]}
	switch {
	case e.Hint != "":
	case e.Status == http.StatusUnauthorized:
		e.Hint = "HEROKU_API_KEY was refused: " + settings.HerokuRefused
	case e.Status == http.StatusForbidden:
		e.Hint = "the account behind HEROKU_API_KEY may not do this: ask the app's owner to add it as a collaborator"
	case e.Status == http.StatusTooManyRequests:
		e.Hint = "the account made too many API calls: wait a few minutes and try again"
	case e.Status >= 500:
		e.Hint = "Heroku's API is failing: see https://status.heroku.com and try again later"
	}
	return e
}
