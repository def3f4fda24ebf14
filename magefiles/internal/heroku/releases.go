package heroku

import (
	"cmp"
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
}

// Name is the release as Heroku's tools name it: v42.
func (r Release) Name() string { return fmt.Sprintf("v%d", r.Version) }

func releaseFrom(r *hk.Release) Release {
	out := Release{ID: r.ID, Version: r.Version, Status: r.Status, Current: r.Current, Description: r.Description}
	if r.OutputStreamURL != nil {
		out.OutputStreamURL = *r.OutputStreamURL
	}
	return out
}

// Releases returns the app's newest releases, newest first, at most n
// (1 to 1000), in one request.
func (c *Client) Releases(ctx context.Context, app string, n int) ([]Release, error) {
	op := "GET /apps/" + app + "/releases"
	req, err := c.api.NewRequest(ctx, http.MethodGet, "/apps/"+app+"/releases", nil, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", fmt.Sprintf("version ..; order=desc, max=%d", min(max(n, 1), 1000)))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.fail(op, err, appNotFound(app))
	}
	defer func() { _ = resp.Body.Close() }()
	var list []hk.Release
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("calling the Heroku API (%s): unreadable answer: %w", op, err)
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

// ReleaseImage releases the Docker image imageID (the digest of its config,
// sha256:...) as the app's process type (web), which must have been pushed
// to the app's repository in Heroku's registry. Heroku makes no new release
// when the image is the one already released. After a 5xx answer or a lost
// connection it is not retried: the newest release says whether it happened.
func (c *Client) ReleaseImage(ctx context.Context, app, processType, imageID string) error {
	type update struct {
		Type        string `json:"type"`
		DockerImage string `json:"docker_image"`
	}
	body := map[string][]update{"updates": {{Type: processType, DockerImage: imageID}}}
	if err := c.docker.Patch(ctx, nil, "/apps/"+app+"/formation", body); err != nil { // the answer is not needed
		return c.fail("PATCH /apps/"+app+"/formation", err, appNotFound(app))
	}
	return nil
}

// Rollback makes a new release of the app that runs what release id ran,
// as heroku rollback does, and returns it. Like ReleaseImage, it is not
// retried after a 5xx answer or a lost connection.
func (c *Client) Rollback(ctx context.Context, app, id string) (Release, error) {
	r, err := c.api.ReleaseRollback(ctx, app, hk.ReleaseRollbackOpts{Release: id})
	if err != nil {
		return Release{}, c.fail("POST /apps/"+app+"/releases", err, nil)
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
			return rel, cmp.Or(context.Cause(ctx), err) // the context's end, when it ended
		}
		rel = next
	}
	return rel, nil
}
