// Package sentryrelease tells Sentry's web API about a deploy: it creates
// the release the deployed app reports its errors under, finalises it, and
// records a deploy of it to an environment. The auth token travels only as a
// bearer token, only to the configured URL, which the settings catalogue
// allows only over HTTPS (or plain HTTP to loopback, which tests use).
package sentryrelease

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Config says where the API is, how to authenticate and which project the
// releases belong to.
type Config struct {
	URL        string       // default https://sentry.io/ (SENTRY_URL)
	Token      string       // an auth token with project:releases scope (SENTRY_AUTH_TOKEN)
	Org        string       // organisation slug (SENTRY_ORG)
	Project    string       // project slug (SENTRY_PROJECT)
	HTTPClient *http.Client // sends the requests; nil means a client with a 30s timeout
}

// Missing returns the names of the settings release tracking needs that cfg
// lacks, sorted: tracking is on only when none is missing.
func (cfg Config) Missing() []string {
	var missing []string
	names := []string{settings.SentryAuthToken.Name, settings.SentryOrg.Name, settings.SentryProject.Name}
	for i, value := range []string{cfg.Token, cfg.Org, cfg.Project} {
		if value == "" {
			missing = append(missing, names[i])
		}
	}
	return missing
}

// Client is a Sentry web API client.
type Client struct {
	cfg  Config
	base string // ends with /api/0
	http *http.Client
}

// New returns a client for cfg, which must have every setting (see Missing).
func New(cfg Config) (*Client, error) {
	if missing := cfg.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("release tracking in Sentry needs %s", strings.Join(missing, ", "))
	}
	client := cmp.Or(cfg.HTTPClient, &http.Client{Timeout: 30 * time.Second})
	return &Client{cfg: cfg, http: client, base: strings.TrimSuffix(cfg.URL, "/") + "/api/0"}, nil
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
	finished, started := d.Finished.UTC().Format(time.RFC3339), ""
	if !d.Started.IsZero() {
		started = d.Started.UTC().Format(time.RFC3339)
	}
	var created struct {
		DateReleased *time.Time `json:"dateReleased"`
	}
	create := map[string]any{"version": d.Version, "projects": []string{c.cfg.Project}, "ref": d.Commit}
	if err := c.do(ctx, http.MethodPost, "/organizations/"+org+"/releases/", create, &created); err != nil {
		return err
	}
	if created.DateReleased == nil {
		if err := c.do(ctx, http.MethodPut, release, map[string]any{"dateReleased": finished}, nil); err != nil {
			return err
		}
	}
	return c.do(ctx, http.MethodPost, release+"deploys/", struct {
		Environment  string   `json:"environment"`
		Projects     []string `json:"projects"`
		DateStarted  string   `json:"dateStarted,omitempty"`
		DateFinished string   `json:"dateFinished"`
		Name         string   `json:"name,omitempty"`
		URL          string   `json:"url,omitempty"`
	}{
		Environment: d.Environment, Projects: []string{c.cfg.Project},
		DateStarted: started, DateFinished: finished, Name: d.Name, URL: d.URL,
	}, nil)
}

// do sends body as JSON and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	op := method + " /api/0" + path
	payload, _ := json.Marshal(body) // strings, maps and structs of them: it cannot fail
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("calling the Sentry API (%s): %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the Sentry API (%s): no answer from %s (check SENTRY_URL and the network): %w",
			op, c.base, err)
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

// apiError explains an error answer with Sentry's detail and what the user can do.
func apiError(op string, status int, body []byte) error {
	msg := fmt.Sprintf("Sentry API %s: HTTP %d", op, status)
	var v struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil && v.Detail != nil {
		if detail := strings.Join(strings.Fields(fmt.Sprint(v.Detail)), " "); detail != "" {
			msg += ": " + detail
		}
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 && !strings.Contains(text, "<") {
		msg += ": " + text
	}
	switch {
	case status == http.StatusUnauthorized:
		msg += "; SENTRY_AUTH_TOKEN was refused: " + settings.SentryRefused
	case status == http.StatusForbidden:
		msg += "; SENTRY_AUTH_TOKEN lacks the project:releases scope for this organisation"
	case status == http.StatusNotFound:
		msg += "; check SENTRY_ORG and SENTRY_PROJECT (slugs, as in the project's URL)"
	case status == http.StatusTooManyRequests || status >= 500:
		msg += "; Sentry is busy or failing: try again later"
	}
	return errors.New(msg)
}
