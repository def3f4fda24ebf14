// Package sentryrelease tells Sentry's web API about a deploy: it creates
// the release the deployed app reports its errors under, finalises it, and
// records a deploy of it to an environment, so Sentry can say which release
// introduced an error and when it reached production.
//
// The auth token travels only as a bearer token, only to the configured
// URL, which the settings catalogue allows only over HTTPS (or plain HTTP
// to loopback addresses, which is what tests use).
package sentryrelease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Config says where the API is, how to authenticate and which project the
// releases belong to.
type Config struct {
	URL     string // default https://sentry.io/ (SENTRY_URL)
	Token   string // an auth token with project:releases scope (SENTRY_AUTH_TOKEN)
	Org     string // organisation slug (SENTRY_ORG)
	Project string // project slug (SENTRY_PROJECT)
	// HTTPClient sends the requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
}

// Missing returns the names of the settings release tracking needs that
// cfg lacks. Tracking is on only when none is missing; some set and others
// missing is worth a warning, as tracking is then off.
func (cfg Config) Missing() []string {
	var missing []string
	for name, value := range map[string]string{
		settings.SentryAuthToken.Name: cfg.Token, settings.SentryOrg.Name: cfg.Org, settings.SentryProject.Name: cfg.Project,
	} {
		if value == "" {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	return missing
}

// Client is a Sentry web API client.
type Client struct {
	cfg  Config
	base string // ends with /api/0
	http *http.Client
}

// New returns a client for cfg, which must have every setting (see
// Missing).
func New(cfg Config) (*Client, error) {
	if missing := cfg.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("release tracking in Sentry needs %s", strings.Join(missing, ", "))
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, base: strings.TrimSuffix(cfg.URL, "/") + "/api/0"}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	return c, nil
}

// Deploy describes a deploy to record.
type Deploy struct {
	Version     string // the release, as the app reports it: buildinfo.ReleaseName(version)
	Commit      string // the git commit it was built from
	Environment string // e.g. production
	Name        string // e.g. "oc-lettings v42", Heroku's release
	URL         string // where it runs
	Started     time.Time
	Finished    time.Time
}

// Record creates the release unless it exists, finalises it unless it is
// already, and records the deploy.
func (c *Client) Record(ctx context.Context, d Deploy) error {
	if d.Version == "" || d.Environment == "" {
		return errors.New("a Sentry deploy needs a release version and an environment")
	}
	org := url.PathEscape(c.cfg.Org)
	release := "/organizations/" + org + "/releases/" + url.PathEscape(d.Version) + "/"

	var created struct {
		DateReleased *time.Time `json:"dateReleased"`
	}
	if err := c.do(ctx, http.MethodPost, "/organizations/"+org+"/releases/", map[string]any{
		"version":  d.Version,
		"projects": []string{c.cfg.Project},
		"ref":      d.Commit,
	}, &created); err != nil {
		return err
	}
	if created.DateReleased == nil {
		if err := c.do(ctx, http.MethodPut, release, map[string]any{
			"dateReleased": d.Finished.UTC().Format(time.RFC3339),
		}, nil); err != nil {
			return err
		}
	}
	deploy := map[string]any{
		"environment":  d.Environment,
		"projects":     []string{c.cfg.Project},
		"dateFinished": d.Finished.UTC().Format(time.RFC3339),
	}
	if !d.Started.IsZero() {
		deploy["dateStarted"] = d.Started.UTC().Format(time.RFC3339)
	}
	if d.Name != "" {
		deploy["name"] = d.Name
	}
	if d.URL != "" {
		deploy["url"] = d.URL
	}
	return c.do(ctx, http.MethodPost, release+"deploys/", deploy, nil)
}

// do sends body as JSON and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	op := method + " /api/0" + path
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("calling the Sentry API (%s): %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the Sentry API (%s): no answer from %s (check SENTRY_URL and the network): %w", op, c.base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return apiError(op, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("calling the Sentry API (%s): unreadable answer: %w", op, err)
		}
	}
	return nil
}

// APIError is an error answer from Sentry's API.
type APIError struct {
	Op     string // e.g. "POST /api/0/organizations/acme/releases/"
	Status int
	Detail string // Sentry's explanation
	Hint   string // what the user can do
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("Sentry API %s: HTTP %d", e.Op, e.Status)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func apiError(op string, status int, body []byte) error {
	e := &APIError{Op: op, Status: status}
	var v struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil && v.Detail != nil {
		e.Detail = strings.Join(strings.Fields(fmt.Sprint(v.Detail)), " ")
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 && !strings.Contains(text, "<") {
		e.Detail = text
	}
	switch {
	case status == http.StatusUnauthorized:
		e.Hint = "SENTRY_AUTH_TOKEN was refused: " + settings.SentryRefused
	case status == http.StatusForbidden:
		e.Hint = "SENTRY_AUTH_TOKEN lacks the project:releases scope for this organisation"
	case status == http.StatusNotFound:
		e.Hint = "check SENTRY_ORG and SENTRY_PROJECT (slugs, as in the project's URL)"
	case status == http.StatusTooManyRequests || status >= 500:
		e.Hint = "Sentry is busy or failing: try again later"
	}
	return e
}
