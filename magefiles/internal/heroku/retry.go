package heroku

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how the client retries.
//
// A 429 answer means Heroku did not process the request, so any request is
// retried after it, as long as its body can be sent again; the wait is the
// answer's Retry-After when given, else the backoff. A 5xx answer or a
// network error is retried only for GET and HEAD, the requests that are safe
// to repeat: a release (PATCH formation) or a rollback (POST releases) that
// failed that way may have happened, and must be checked, not repeated.
type RetryPolicy struct {
	Attempts int           // attempts in all, first included; default 4
	MinDelay time.Duration // first backoff, doubled at each retry; default 1s
	// MaxDelay caps each wait. A Retry-After longer than this is not waited
	// for: the 429 is returned. Default 30s.
	MaxDelay time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.MinDelay <= 0 {
		p.MinDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	return p
}

// backoff is the wait before retry number n (1 for the first retry).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// retryTransport retries requests under a RetryPolicy. It sits under
// heroku-go's Transport, so it sees raw answers before they become errors.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	logf   func(format string, args ...any)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		wait, why, retry := t.decide(req, resp, err, attempt)
		if !retry {
			if err == nil {
				jsonError(resp)
			}
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if t.logf != nil {
			t.logf("Heroku API %s %s: %s; retrying in %s", req.Method, req.URL.Path, why, wait)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// decide says whether to retry after the given outcome of attempt, how long
// to wait first, and why.
func (t *retryTransport) decide(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, string, bool) {
	if attempt >= t.policy.Attempts || req.Context().Err() != nil {
		return 0, "", false
	}
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead
	backoff := t.policy.backoff(attempt)
	switch {
	case err != nil:
		return backoff, err.Error(), safe
	case resp.StatusCode == http.StatusTooManyRequests:
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		wait, ok := t.retryAfter(resp, backoff)
		return wait, "rate limited (429)", replayable && ok
	case resp.StatusCode >= 500:
		wait, ok := t.retryAfter(resp, backoff)
		return wait, resp.Status, safe && ok
	}
	return 0, "", false
}

// retryAfter returns the wait resp asks for (seconds or an HTTP date), or
// def when it asks for none; ok is false when the wait exceeds MaxDelay.
func (t *retryTransport) retryAfter(resp *http.Response, def time.Duration) (time.Duration, bool) {
	h := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if h == "" {
		return def, true
	}
	var wait time.Duration
	if secs, err := strconv.Atoi(h); err == nil {
		wait = time.Duration(max(secs, 0)) * time.Second
	} else if when, err := http.ParseTime(h); err == nil {
		wait = max(time.Until(when), 0)
	} else {
		return def, true
	}
	return wait, wait <= t.policy.MaxDelay
}

// rewind returns req ready to be sent again, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	again := req.Clone(req.Context())
	again.Body = body
	return again, nil
}

// sleep waits for d, or until ctx ends and then returns its cause.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// jsonError makes sure an error answer has the JSON body heroku-go decodes
// into an error with the status code: a proxy's HTML error page, or an
// empty body, would otherwise lose it.
func jsonError(resp *http.Response) {
	if resp.StatusCode < 400 {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	var e struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || (e.ID == "" && e.Message == "") {
		e.Message = resp.Status
		if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 && !strings.Contains(text, "<") {
			e.Message += ": " + text
		}
		body, _ = json.Marshal(e)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
}
