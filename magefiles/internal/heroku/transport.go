package heroku

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	hk "github.com/heroku/heroku-go/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
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

// retryTransport retries requests under a RetryPolicy. It sits under
// heroku-go's Transport, so it sees raw answers before they become errors.
type retryTransport struct {
	RetryPolicy
	base http.RoundTripper
	logf func(format string, args ...any)
}

func newRetryTransport(base http.RoundTripper, p RetryPolicy, logf func(string, ...any)) *retryTransport {
	p.Attempts = cmp.Or(max(p.Attempts, 0), 4)
	p.MinDelay = cmp.Or(max(p.MinDelay, 0), time.Second)
	p.MaxDelay = cmp.Or(max(p.MaxDelay, 0), 30*time.Second)
	return &retryTransport{RetryPolicy: p, base: base, logf: logf}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		wait, why := t.retryWait(req, resp, err, attempt)
		if why == "" {
			if err == nil {
				readableError(resp)
			}
			return resp, err
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		if t.logf != nil {
			t.logf("Heroku API %s %s: %s; retrying in %s", req.Method, req.URL.Path, why, wait)
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil { // a fresh copy of the body for the next attempt
			again := req.Clone(req.Context())
			if again.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
			req = again
		}
	}
}

// retryWait says why attempt's outcome is retried and how long to wait
// first, or returns "" when it is not retried.
func (t *retryTransport) retryWait(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, string) {
	if attempt >= t.Attempts || req.Context().Err() != nil {
		return 0, ""
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	safe := (req.Method == http.MethodGet || req.Method == http.MethodHead) && replayable
	wait := min(t.MinDelay<<min(attempt-1, 16), t.MaxDelay)
	switch {
	case err != nil && safe:
		return wait, err.Error()
	case err == nil && (resp.StatusCode == http.StatusTooManyRequests && replayable || resp.StatusCode >= 500 && safe):
		// retried, after the answer's Retry-After when it has one
	default:
		return 0, ""
	}
	// Retry-After is a number of seconds or an HTTP date.
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		wait = time.Duration(max(secs, 0)) * time.Second
	} else if when, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		wait = max(time.Until(when), 0)
	}
	switch {
	case wait > t.MaxDelay:
		return 0, ""
	case resp.StatusCode == http.StatusTooManyRequests:
		return wait, "rate limited (429)"
	}
	return wait, resp.Status
}

// sleep waits for d, or until ctx ends and then returns its cause.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// readableError makes sure an error answer has the JSON body heroku-go
// decodes into an error with the status code: a proxy's HTML error page,
// or an empty body, would otherwise lose it.
func readableError(resp *http.Response) {
	if resp.StatusCode < 400 {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	var e struct{ ID, Message string }
	if json.Unmarshal(body, &e) != nil || e.ID == "" && e.Message == "" {
		e.Message = resp.Status
		if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 && !strings.Contains(text, "<") {
			e.Message += ": " + text
		}
		body, _ = json.Marshal(map[string]string{"id": e.ID, "message": e.Message})
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
}

// APIError is an error answer from the Platform API: its HTTP status and
// Heroku's error id and message, with a hint that says what to do.
type APIError struct {
	Op      string // the request, e.g. "GET /apps/oc-lettings"
	Status  int    // HTTP status code
	ID      string // Heroku's error id, e.g. unauthorized, not_found, rate_limit
	Message string // Heroku's message
	Hint    string // what the user can do about it
}

func (e *APIError) Error() string {
	msg := cmp.Or(strings.Join(strings.Fields(e.Message), " "), http.StatusText(e.Status))
	if e.ID != "" {
		msg = e.ID + ": " + msg
	}
	if e.Hint != "" {
		return fmt.Sprintf("Heroku API %s: %s (HTTP %d); %s", e.Op, msg, e.Status, e.Hint)
	}
	return fmt.Sprintf("Heroku API %s: %s (HTTP %d)", e.Op, msg, e.Status)
}

// IsNotFound reports whether err is the API's not_found answer (404).
func IsNotFound(err error) bool { return apiError(err).Status == http.StatusNotFound }

// IsUnauthorized reports whether err says the API key was refused (401).
func IsUnauthorized(err error) bool { return apiError(err).Status == http.StatusUnauthorized }

// Hint returns what an error of this package says to do about it, or "".
func Hint(err error) string { return apiError(err).Hint }

// apiError returns the APIError in err's chain, or an empty one.
func apiError(err error) *APIError {
	var e *APIError
	if !errors.As(err, &e) {
		return &APIError{}
	}
	return e
}

// hints are what to do about error answers to one request, by status.
type hints map[int]string

// fail turns what heroku-go returned for op into an error a user can act
// on, with the hint for its status from byStatus, else a general one.
func (c *Client) fail(op string, err error, byStatus hints) error {
	var he hk.Error
	if !errors.As(err, &he) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("calling the Heroku API (%s): %w", op, err)
		}
		return fmt.Errorf("calling the Heroku API (%s): no answer from %s (check HEROKU_API_URL and the network): %w", op, c.api.URL, err)
	}
	e := &APIError{Op: op, Status: he.StatusCode, ID: he.ID, Message: he.Error(), Hint: byStatus[he.StatusCode]}
	switch {
	case e.Hint != "":
	case e.Status == http.StatusUnauthorized:
		e.Hint = "HEROKU_API_KEY was refused: " + settings.HerokuRefused
	case e.Status == http.StatusForbidden:
		e.Hint = "the account behind HEROKU_API_KEY may not do this: ask the app's owner to add it as a collaborator"
	case e.Status == http.StatusTooManyRequests:
		e.Hint = "the account made too many API calls: wait a few minutes and try again"
	case e.Status >= 500:
		e.Hint = "Heroku's API is failing: see https://status.heroku.com and try again later"
	}
	return e
}
