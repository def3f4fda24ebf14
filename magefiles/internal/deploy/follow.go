package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
)

// streamGrace is how long the release phase output may take to end after
// Heroku reports the release's status.
const streamGrace = 3 * time.Second

// tailLines is how much of the release phase output a failure shows.
const tailLines = 20

// follow waits until rel is no longer pending, showing its release phase
// output live when verbose, and returns an error unless it succeeded.
// rel is updated to the release as last seen.
func (r *run) follow(ctx context.Context, rel *heroku.Release) error {
	if rel.Status == heroku.StatusPending {
		r.say("release %s pending", rel.Name())
	}
	output := &tail{}
	stopStream := r.streamOutput(ctx, rel.OutputStreamURL, output)

	wctx, cancel := context.WithTimeout(ctx, r.cfg.ReleaseTimeout)
	final, err := r.d.Heroku.WaitRelease(wctx, r.app.Name, *rel, r.cfg.PollInterval)
	cancel()
	stopStream(err == nil)
	*rel = final
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		r.say("release %s still pending after %s", rel.Name(), r.cfg.ReleaseTimeout)
		return fmt.Errorf("release %s is still pending after %s%s", rel.Name(), r.cfg.ReleaseTimeout, output.show())
	case err != nil:
		return fmt.Errorf("following release %s: %w", rel.Name(), err)
	case rel.Status != heroku.StatusSucceeded:
		r.say("release %s %s", rel.Name(), rel.Status)
		return fmt.Errorf("release %s %s: its release phase did not succeed%s", rel.Name(), rel.Status, output.show())
	}
	r.say("release %s succeeded", rel.Name())
	return nil
}

// streamOutput copies the release phase output at url to output (and live
// to r.out when verbose) in the background. The returned function stops
// it, after a short grace for the end of the output when finished is true.
func (r *run) streamOutput(ctx context.Context, url string, output *tail) func(finished bool) {
	if url == "" {
		return func(bool) {}
	}
	w := io.Writer(output)
	if r.d.Verbose {
		w = io.MultiWriter(output, r.out)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.cfg.Stream.Copy(sctx, url, w) }()
	return func(finished bool) {
		if finished {
			select {
			case err := <-done:
				if err != nil && sctx.Err() == nil {
					output.note(err)
				}
			case <-time.After(streamGrace):
			}
		}
		cancel()
	}
}

// tail keeps the end of the release phase output.
type tail struct {
	mu  sync.Mutex
	buf []byte
	err error
}

const tailBytes = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tail) note(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
}

// show returns the last lines of the output, for an error message.
func (t *tail) show() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := strings.TrimRight(string(t.buf), "\r\n")
	if text == "" {
		if t.err != nil {
			return fmt.Sprintf(" (its output could not be read: %v)", t.err)
		}
		return ""
	}
	lines := strings.Split(text, "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return "; the end of its output:\n    " + strings.Join(lines, "\n    ")
}

// healthz is what the site's /healthz answers.
type healthz struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// probeTimeout bounds one /healthz request.
const probeTimeout = 10 * time.Second

// checkHealth asks url until it reports the commit, and returns the version
// it reports.
func (r *run) checkHealth(ctx context.Context, url string) (string, error) {
	hctx, cancel := context.WithTimeout(ctx, r.cfg.HealthTimeout)
	defer cancel()
	last := "no answer yet"
	for {
		h, err := r.probe(hctx, url)
		switch {
		case err != nil && hctx.Err() != nil:
			// cut short by the deadline: keep the last real answer
		case err != nil:
			last = err.Error()
		case h.Status == "ok" && h.Commit == r.cfg.Commit:
			r.say("health ok: %s reports commit %s (%s)", url, short(h.Commit), h.Version)
			return h.Version, nil
		default:
			last = fmt.Sprintf("status %q, commit %q", h.Status, short(h.Commit))
		}
		if err := heroku.Sleep(hctx, r.cfg.PollInterval); err != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	r.say("health check failed: no commit %s after %s", short(r.cfg.Commit), r.cfg.HealthTimeout)
	return "", fmt.Errorf("health check: %s did not report commit %s within %s (last answer: %s)",
		url, short(r.cfg.Commit), r.cfg.HealthTimeout, last)
}

func (r *run) probe(ctx context.Context, url string) (healthz, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var h healthz
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return h, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	client := r.d.Health
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return h, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("HTTP %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil {
		return h, fmt.Errorf("not the site's /healthz JSON: %w", err)
	}
	return h, nil
}
