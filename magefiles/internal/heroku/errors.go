package heroku

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	hk "github.com/heroku/heroku-go/v6"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

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
	var b strings.Builder
	fmt.Fprintf(&b, "Heroku API %s: ", e.Op)
	if e.ID != "" {
		fmt.Fprintf(&b, "%s: ", e.ID)
	}
	msg := strings.TrimSpace(e.Message)
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	fmt.Fprintf(&b, "%s (HTTP %d)", strings.Join(strings.Fields(msg), " "), e.Status)
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

// IsNotFound reports whether err is the API's not_found answer.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.ID == "not_found" || e.Status == http.StatusNotFound)
}

// IsUnauthorized reports whether err says the API key was refused.
func IsUnauthorized(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.ID == "unauthorized" || e.Status == http.StatusUnauthorized)
}

// Hint returns what an error of this package says to do about it, or "".
func Hint(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}

// fail turns what heroku-go returned for op into an error a user can act
// on. notFound is the hint for a not_found answer.
func (c *Client) fail(op string, err error, notFound string) error {
	var he hk.Error
	if !errors.As(err, &he) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("calling the Heroku API (%s): %w", op, err)
		}
		return fmt.Errorf("calling the Heroku API (%s): no answer from %s (check HEROKU_API_URL and the network): %w", op, c.baseURL, err)
	}
	e := &APIError{Op: op, Status: he.StatusCode, ID: he.ID, Message: he.Error()}
	switch {
	case e.ID == "unauthorized" || e.Status == http.StatusUnauthorized:
		e.Hint = "HEROKU_API_KEY was refused: " + settings.HerokuRefused
	case e.ID == "forbidden" || e.Status == http.StatusForbidden:
		e.Hint = "the account behind HEROKU_API_KEY may not do this: ask the app's owner to add it as a collaborator"
	case e.ID == "not_found" || e.Status == http.StatusNotFound:
		e.Hint = notFound
	case e.ID == "rate_limit" || e.Status == http.StatusTooManyRequests:
		e.Hint = "the account made too many API calls: wait a few minutes and try again"
	case e.Status >= 500:
		e.Hint = "Heroku's API is failing: see https://status.heroku.com and try again later"
	}
	return e
}
