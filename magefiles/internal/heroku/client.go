// Package heroku talks to the Heroku Platform API (through
// github.com/heroku/heroku-go/v6): it checks an app, creates one, releases
// a container image, follows the release and rolls it back. Platform runs
// mage deploy's steps on Heroku.
//
// The API key travels only as a bearer token, only to the configured API
// URL. Each request waits at most RequestTimeout for an answer; requests
// that were rate-limited, and failed ones that are safe to repeat, are
// retried a bounded number of times (see RetryPolicy).
package heroku

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	hk "github.com/heroku/heroku-go/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// ContainerStack is the stack of apps that run Docker images.
const ContainerStack = "container"

// RequestTimeout bounds the wait for the answer to one request, so that
// an API that accepts connections and never answers fails a deploy in
// about a minute, retries included, not in several.
const RequestTimeout = 10 * time.Second

// Config says where the API is and how to authenticate.
type Config struct {
	APIURL string // e.g. https://api.heroku.com (HEROKU_API_URL)
	APIKey string // sent only as a bearer token (HEROKU_API_KEY)

	// Transport carries the requests; nil means http.DefaultTransport's
	// settings, with RequestTimeout for each answer.
	Transport http.RoundTripper
	// Retry bounds the retries; zero fields take their defaults.
	Retry RetryPolicy
	// Logf, when set, is told about each retry.
	Logf func(format string, args ...any)
}

// Client is a Platform API client.
type Client struct {
	api    *hk.Service  // Accept: application/vnd.heroku+json; version=3
	docker *hk.Service  // the same, with the docker-releases variant
	http   *http.Client // api's, for the requests heroku-go cannot make
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	key := strings.TrimSpace(cfg.APIKey)
	if key == "" {
		return nil, errors.New("no Heroku API key: " + settings.HerokuRefused)
	}
	inner := cfg.Transport
	if inner == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = RequestTimeout
		inner = t
	}
	retry := newRetryTransport(inner, cfg.Retry, cfg.Logf)
	client := func(extra http.Header) *http.Client {
		return &http.Client{Transport: &hk.Transport{
			BearerToken: key, UserAgent: "oc-lettings-mage " + hk.DefaultUserAgent, AdditionalHeaders: extra, Transport: retry,
		}}
	}
	// heroku-go's Transport sets Accept itself and then applies
	// AdditionalHeaders, so a second service is the only way to send the
	// docker-releases variant.
	c := &Client{http: client(nil)}
	c.api = hk.NewService(c.http)
	c.docker = hk.NewService(client(http.Header{"Accept": {"application/vnd.heroku+json; version=3.docker-releases"}}))
	c.api.URL = strings.TrimSuffix(cfg.APIURL, "/")
	c.docker.URL = c.api.URL
	return c, nil
}

// Account is the account an API key belongs to.
type Account struct {
	Email string
}

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

// IsContainer reports whether the app runs, or will run from its next
// release, Docker images.
func (a App) IsContainer() bool {
	return a.Stack == ContainerStack || a.BuildStack == ContainerStack
}

// App returns the named app, or an error that says it does not exist (or is
// not visible to this key) and what to do.
func (c *Client) App(ctx context.Context, name string) (App, error) {
	a, err := c.api.AppInfo(ctx, name)
	if err != nil {
		return App{}, c.fail("GET /apps/"+name, err, appNotFound(name))
	}
	return appFrom(a), nil
}

func appFrom(a *hk.App) App {
	app := App{Name: a.Name, Stack: a.Stack.Name, BuildStack: a.BuildStack.Name, Generation: a.Generation.Name}
	if a.WebURL != nil {
		app.WebURL = *a.WebURL
	}
	return app
}

// appNotFound is the hint for an app the API does not find.
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

// EnsureApp makes sure the app exists on the container stack and has the
// given config vars: it creates the app, or switches its build stack (as
// heroku stack:set does), or sets the vars only when needed, so running it
// again changes nothing. Config var values are never part of its result or
// errors. Heroku makes a new release of the app when its vars change.
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
