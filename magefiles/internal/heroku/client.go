// Package heroku talks to the Heroku Platform API (through
// github.com/heroku/heroku-go/v6) to check an app, release a container
// image, follow the release and roll it back.
//
// The API key travels only as a bearer token, only to the configured API
// URL, and only over HTTPS (plain HTTP is accepted for loopback addresses,
// which is what tests use). Rate-limited requests and failed requests that
// are safe to repeat are retried a bounded number of times; see RetryPolicy.
package heroku

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	hk "github.com/heroku/heroku-go/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/endpoint"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// ContainerStack is the stack of apps that run Docker images.
const ContainerStack = "container"

// Config says where the API is and how to authenticate.
type Config struct {
	APIURL string // default https://api.heroku.com (HEROKU_API_URL)
	APIKey string // sent only as a bearer token

	// Transport carries the requests; nil means http.DefaultTransport's
	// settings, with at most a minute to wait for each answer.
	Transport http.RoundTripper
	// Retry bounds the retries; zero fields take their defaults.
	Retry RetryPolicy
	// Logf, when set, is told about each retry.
	Logf func(format string, args ...any)
}

// FromEnv returns the app HEROKU_APP_NAME names in env and the Config for
// HEROKU_API_URL and HEROKU_API_KEY. HEROKU_API_KEY and HEROKU_APP_NAME
// are required: every missing one is reported at once, and a name Heroku
// would refuse is reported before any request.
func FromEnv(env settings.Env) (app string, cfg Config, err error) {
	if err := settings.Require(env, settings.HerokuAPIKey, settings.HerokuAppName); err != nil {
		return "", Config{}, err
	}
	app = settings.HerokuAppName.Get(env)
	if err := CheckAppName(app); err != nil {
		return "", Config{}, err
	}
	return app, Config{APIURL: settings.HerokuAPIURL.Get(env), APIKey: settings.HerokuAPIKey.Get(env)}, nil
}

// Client is a Platform API client.
type Client struct {
	baseURL string
	err     error       // a configuration error, returned by every call
	api     *hk.Service // Accept: application/vnd.heroku+json; version=3
	docker  *hk.Service // the same, with the docker-releases variant
	http    *http.Client
}

// Accept headers of the two API variants the client uses.
const (
	acceptV3             = "application/vnd.heroku+json; version=3"
	acceptDockerReleases = "application/vnd.heroku+json; version=3.docker-releases"
)

// userAgent names this pipeline in Heroku's logs.
const userAgent = "oc-lettings-mage " + hk.DefaultUserAgent

// New returns a client for cfg. A bad cfg (an unparsable URL, plain HTTP to
// a remote host, no key) is reported by the first call.
func New(cfg Config) *Client {
	base, err := endpoint.Check(settings.HerokuAPIURL, cfg.APIURL, settings.HerokuAPIKey)
	if err == nil && strings.TrimSpace(cfg.APIKey) == "" {
		err = errors.New("no Heroku API key: export HEROKU_API_KEY (create one with heroku authorizations:create)")
	}
	inner := cfg.Transport
	if inner == nil {
		inner = http.DefaultTransport
		// A request Heroku never answers must not hang a CI job: each
		// attempt waits at most a minute for the answer to start.
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t = t.Clone()
			t.ResponseHeaderTimeout = time.Minute
			inner = t
		}
	}
	retry := &retryTransport{base: inner, policy: cfg.Retry.withDefaults(), logf: cfg.Logf}
	newService := func(extra http.Header) (*hk.Service, *http.Client) {
		hc := &http.Client{Transport: &hk.Transport{
			BearerToken:       strings.TrimSpace(cfg.APIKey),
			UserAgent:         userAgent,
			AdditionalHeaders: extra,
			Transport:         retry,
		}}
		svc := hk.NewService(hc)
		svc.URL = base
		return svc, hc
	}
	api, hc := newService(nil)
	// heroku-go's Transport sets Accept itself and then applies
	// AdditionalHeaders, so this second service is the only way to send
	// the docker-releases variant.
	docker, _ := newService(http.Header{"Accept": {acceptDockerReleases}})
	return &Client{baseURL: base, err: err, api: api, docker: docker, http: hc}
}

// URL returns the API endpoint the client talks to.
func (c *Client) URL() string { return c.baseURL }

// Account is the account an API key belongs to.
type Account struct {
	Email string
}

// Account returns the key's account: it tells whether the key is accepted.
func (c *Client) Account(ctx context.Context) (Account, error) {
	if c.err != nil {
		return Account{}, c.err
	}
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
	if err := c.check(name); err != nil {
		return App{}, err
	}
	a, err := c.api.AppInfo(ctx, name)
	if err != nil {
		return App{}, c.fail("GET /apps/"+name, err, appNotFound(name))
	}
	return appFrom(a), nil
}

// CreateApp creates the app name with stack (ContainerStack for this site).
func (c *Client) CreateApp(ctx context.Context, name, stack string) (App, error) {
	if err := c.check(name); err != nil {
		return App{}, err
	}
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
	if err := c.check(name); err != nil {
		return App{}, err
	}
	a, err := c.api.AppUpdate(ctx, name, hk.AppUpdateOpts{BuildStack: &stack})
	if err != nil {
		return App{}, c.fail("PATCH /apps/"+name, err, "")
	}
	return appFrom(a), nil
}

func appFrom(a *hk.App) App {
	app := App{Name: a.Name, Stack: a.Stack.Name, BuildStack: a.BuildStack.Name}
	if a.WebURL != nil {
		app.WebURL = *a.WebURL
	}
	return app
}

// ConfigVars returns the app's config vars. Their values may be secrets:
// never print them.
func (c *Client) ConfigVars(ctx context.Context, app string) (map[string]string, error) {
	if err := c.check(app); err != nil {
		return nil, err
	}
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
	if err := c.check(app); err != nil {
		return err
	}
	update := make(map[string]*string, len(vars))
	for k, v := range vars {
		update[k] = &v
	}
	if _, err := c.api.ConfigVarUpdate(ctx, app, update); err != nil {
		return c.fail("PATCH /apps/"+app+"/config-vars", err, "")
	}
	return nil
}

// appName is Heroku's pattern for app names (schema: app.name).
var appName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`)

// CheckAppName returns an error when name cannot be a Heroku app name.
func CheckAppName(name string) error {
	if !appName.MatchString(name) {
		return fmt.Errorf("HEROKU_APP_NAME %q is not a Heroku app name: 3 to 30 lowercase letters, digits and dashes, starting with a letter", name)
	}
	return nil
}

// check returns the client's configuration error, or an error for an app
// name that would not be a single path segment.
func (c *Client) check(app string) error {
	if c.err != nil {
		return c.err
	}
	return CheckAppName(app)
}
