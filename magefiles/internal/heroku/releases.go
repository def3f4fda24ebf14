package heroku

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	hk "github.com/heroku/heroku-go/v6"
)

// Release statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusExpired   = "expired"
)

// Release is one release of an app.
type Release struct {
	ID          string
	Version     int
	Status      string // StatusPending, StatusSucceeded, StatusFailed or StatusExpired
	Current     bool   // the release the app runs
	Description string
	// OutputStreamURL streams the release phase's output, when there is
	// one. It is a signed URL: it gets no credentials.
	OutputStreamURL string
	CreatedAt       time.Time
}

// Name is the release as Heroku's tools name it: v42.
func (r Release) Name() string { return fmt.Sprintf("v%d", r.Version) }

func releaseFrom(r *hk.Release) Release {
	out := Release{
		ID: r.ID, Version: r.Version, Status: r.Status, Current: r.Current,
		Description: r.Description, CreatedAt: r.CreatedAt,
	}
	if r.OutputStreamURL != nil {
		out.OutputStreamURL = *r.OutputStreamURL
	}
	return out
}

// Releases returns the app's newest releases, newest first, at most max
// (1 to 1000) in one request.
func (c *Client) Releases(ctx context.Context, app string, n int) ([]Release, error) {
	n = min(max(n, 1), 1000)
	list, _, err := c.releasePage(ctx, app, fmt.Sprintf("version ..; order=desc, max=%d", n))
	return list, err
}

// currentScan is how many releases NewestAndCurrent looks through, newest
// first, in pages of currentPage.
const (
	currentScan = 100
	currentPage = 10
)

// NewestAndCurrent returns the app's newest release and the release it
// runs: the newest one marked current. Usually they are one release, found
// by one request. newest is nil when the app has no release; current is nil
// when none is current (the app was never released, or its last 100
// releases all failed).
func (c *Client) NewestAndCurrent(ctx context.Context, app string) (newest, current *Release, err error) {
	rng := fmt.Sprintf("version ..; order=desc, max=%d", currentPage)
	for seen := 0; seen < currentScan && rng != ""; {
		var page []Release
		page, rng, err = c.releasePage(ctx, app, rng)
		if err != nil {
			return nil, nil, err
		}
		if len(page) == 0 {
			break
		}
		if newest == nil {
			newest = &page[0]
		}
		for i := range page {
			if page[i].Current {
				return newest, &page[i], nil
			}
		}
		seen += len(page)
	}
	return newest, nil, nil
}

// releasePage lists one page of releases with the Range header rng, and
// returns the Range of the next page ("" after the last).
func (c *Client) releasePage(ctx context.Context, app, rng string) ([]Release, string, error) {
	op := "GET /apps/" + app + "/releases"
	req, err := c.api.NewRequest(ctx, http.MethodGet, "/apps/"+app+"/releases", nil, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Range", rng)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", c.fail(op, err, appNotFound(app))
	}
	defer func() { _ = resp.Body.Close() }()
	var list []hk.Release
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, "", fmt.Errorf("calling the Heroku API (%s): unreadable answer: %w", op, err)
	}
	out := make([]Release, len(list))
	for i := range list {
		out[i] = releaseFrom(&list[i])
	}
	next := ""
	if resp.StatusCode == http.StatusPartialContent {
		next = resp.Header.Get("Next-Range")
	}
	return out, next, nil
}

// Release returns the app's release id (an id or a version number).
func (c *Client) Release(ctx context.Context, app, id string) (Release, error) {
	r, err := c.api.ReleaseInfo(ctx, app, id)
	if err != nil {
		return Release{}, c.fail("GET /apps/"+app+"/releases/"+id, err, "")
	}
	return releaseFrom(r), nil
}

// ReleaseImage releases the Docker image imageID (the digest of its config,
// sha256:...) as the app's process type (web), which must have been pushed
// to the app's repository in Heroku's registry. Heroku makes no new release
// when the image is the one already released.
//
// It is not retried after a 5xx answer or a lost connection: check the
// newest release to learn whether it happened.
func (c *Client) ReleaseImage(ctx context.Context, app, processType, imageID string) error {
	type update struct {
		Type        string `json:"type"`
		DockerImage string `json:"docker_image"`
	}
	body := struct {
		Updates []update `json:"updates"`
	}{Updates: []update{{Type: processType, DockerImage: imageID}}}
	var formation []json.RawMessage
	if err := c.docker.Patch(ctx, &formation, "/apps/"+app+"/formation", body); err != nil {
		return c.fail("PATCH /apps/"+app+"/formation", err, appNotFound(app))
	}
	return nil
}

// Rollback makes a new release of the app that runs what release id ran,
// as heroku rollback does, and returns it.
//
// It is not retried after a 5xx answer or a lost connection: check the
// newest release to learn whether it happened.
func (c *Client) Rollback(ctx context.Context, app, id string) (Release, error) {
	r, err := c.api.ReleaseRollback(ctx, app, hk.ReleaseRollbackOpts{Release: id})
	if err != nil {
		return Release{}, c.fail("POST /apps/"+app+"/releases", err, "")
	}
	return releaseFrom(r), nil
}

// WaitRelease polls the release every interval until it is no longer
// pending, and returns it. It stops with an error when ctx ends, returning
// the release as last seen.
func (c *Client) WaitRelease(ctx context.Context, app string, rel Release, interval time.Duration) (Release, error) {
	for rel.Status == StatusPending || rel.Status == "" {
		if err := sleep(ctx, interval); err != nil {
			return rel, err
		}
		next, err := c.Release(ctx, app, rel.ID)
		if err != nil {
			if ctx.Err() != nil {
				return rel, context.Cause(ctx)
			}
			return rel, err
		}
		rel = next
	}
	return rel, nil
}
