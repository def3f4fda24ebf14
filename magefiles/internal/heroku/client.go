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
	"net/http"
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
	baseURL string
	api     *hk.Service // Accept: application/vnd.heroku+json; version=3
	docker  *hk.Service // the same, with the docker-releases variant
	http    *http.Client
}

// userAgent names this pipeline in Heroku's logs.
const userAgent = "oc-lettings-mage " + hk.DefaultUserAgent

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
	retry := &retryTransport{base: inner, policy: cfg.Retry.withDefaults(), logf: cfg.Logf}
	base := strings.TrimSuffix(cfg.APIURL, "/")
	newService := func(extra http.Header) (*hk.Service, *http.Client) {
		hc := &http.Client{Transport: &hk.Transport{
			BearerToken: key, UserAgent: userAgent, AdditionalHeaders: extra, Transport: retry,
		}}
		svc := hk.NewService(hc)
		svc.URL = base
		return svc, hc
	}
	api, hc := newService(nil)
	// heroku-go's Transport sets Accept itself and then applies
	// AdditionalHeaders, so this second service is the only way to send
	// the docker-releases variant.
	docker, _ := newService(http.Header{"Accept": {"application/vnd.heroku+json; version=3.docker-releases"}})
	return &Client{baseURL: base, api: api, docker: docker, http: hc}, nil
}

// Account is the account an API key belongs to.
type Account struct {
	Email string
}

// Account returns the key's account: it tells whether the key is accepted.
func (c *Client) Account(ctx context.Context) (Account, error) {
	a, err := c.api.AccountInfo(ctx)
	if err != nil {
		return Account{}, c.fail("GET /account", err, "")
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

// CreateApp creates the app name with stack (ContainerStack for this site).
func (c *Client) CreateApp(ctx context.Context, name, stack string) (App, error) {
	a, err := c.api.AppCreate(ctx, hk.AppCreateOpts{Name: &name, Stack: &stack})
	if err != nil {
		err = c.fail("POST /apps", err, "")
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
			apiErr.Hint = "app names are global on Heroku: if " + name + " is taken, choose another HEROKU_APP_NAME"
		}
		return App{}, err
	}
	return appFrom(a), nil
}

// SetBuildStack switches the stack of the app's next release, as
// heroku stack:set does.
func (c *Client) SetBuildStack(ctx context.Context, name, stack string) (App, error) {
	a, err := c.api.AppUpdate(ctx, name, hk.AppUpdateOpts{BuildStack: &stack})
	if err != nil {
		return App{}, c.fail("PATCH /apps/"+name, err, "")
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

// ConfigVars returns the app's config vars. Their values may be secrets:
// never print them.
func (c *Client) ConfigVars(ctx context.Context, app string) (map[string]string, error) {
	vars, err := c.api.ConfigVarInfoForApp(ctx, app)
	if err != nil {
		return nil, c.fail("GET /apps/"+app+"/config-vars", err, "")
	}
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		if v != nil {
			out[k] = *v
		}
	}
	return out, nil
}

// SetConfigVars sets the given config vars, leaving the others as they are.
// Heroku makes a new release of the app when they change.
func (c *Client) SetConfigVars(ctx context.Context, app string, vars map[string]string) error {
	update := make(map[string]*string, len(vars))
	for k, v := range vars {
		update[k] = &v
	}
	if _, err := c.api.ConfigVarUpdate(ctx, app, update); err != nil {
		return c.fail("PATCH /apps/"+app+"/config-vars", err, "")
	}
	return nil
}

func appNotFound(app string) string {
	return fmt.Sprintf("app %q does not exist or this key cannot see it: check HEROKU_APP_NAME, or create the app with mage heroku:create", app)
}
