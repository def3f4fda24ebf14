// Package healthz asks the site's /healthz how it is, and waits until it
// answers as wanted: the one wait used by mage runLocal (the container is
// up), mage bench (the server is up) and mage deploy (the new commit is
// live).
package healthz

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
)

// Get asks url once and returns what the site reports. Anything but a 200
// with the site's JSON is an error that says what came back.
func Get(ctx context.Context, url string) (h buildinfo.Health, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a bound on one request
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return h, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return h, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("HTTP %s", resp.Status)
	}
	if err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil {
		return h, fmt.Errorf("not the site's /healthz JSON: %w", err)
	}
	return h, nil
}

// Wait asks url every interval until ready accepts the answer, and returns
// it. When ctx ends first (its deadline, or a cause such as "the container
// stopped"), the error gives the cause and what url answered last.
func Wait(ctx context.Context, url string, every time.Duration, ready func(buildinfo.Health) bool) (buildinfo.Health, error) {
	last := "no answer yet"
	for {
		h, err := Get(ctx, url)
		switch {
		case err == nil && ready(h):
			return h, nil
		case err == nil:
			last = fmt.Sprintf("status %q, version %q, commit %q", h.Status, h.Version, h.Commit)
		case ctx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return h, fmt.Errorf("%w (last answer from %s: %s)", context.Cause(ctx), url, last)
		case <-time.After(every):
		}
	}
}

// Up accepts any answer with status ok.
func Up(h buildinfo.Health) bool { return h.Status == "ok" }
