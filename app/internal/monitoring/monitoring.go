// Package monitoring reports the site's panics and performance traces to
// Sentry, with sensitive request headers removed before anything is sent.
package monitoring

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/getsentry/sentry-go"
	sentryhttp "github.com/getsentry/sentry-go/http"
)

// Options configures the Sentry client.
type Options struct {
	// DSN is the Sentry project's DSN. Empty disables monitoring.
	DSN string
	// Environment is the deployment environment, such as "production".
	Environment string
	// Release names the running build, such as buildinfo.Release().
	Release string
	// TracesSampleRate is the fraction of requests traced, from 0 to 1.
	TracesSampleRate float64
}

// Monitor reports to Sentry. A Monitor made from an empty DSN is disabled:
// its middleware is a no-op and Flush returns at once.
type Monitor struct {
	hub *sentry.Hub // nil when disabled
}

// New returns a Monitor for opts. It fails only on a malformed DSN.
//
// The client has its own hub rather than Sentry's global one, so several
// Monitors (in tests, say) do not interfere. SendDefaultPII keeps its zero
// value, false (the field is deprecated in favour of DataCollection, whose
// default then matches it): no IP addresses, cookies or request bodies are
// collected. BeforeSend and BeforeSendTransaction also remove credential
// headers outright.
func New(opts Options) (*Monitor, error) {
	if opts.DSN == "" {
		return &Monitor{}, nil
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:                   opts.DSN,
		Environment:           opts.Environment,
		Release:               opts.Release,
		EnableTracing:         true,
		TracesSampleRate:      opts.TracesSampleRate,
		AttachStacktrace:      true,
		BeforeSend:            scrub,
		BeforeSendTransaction: scrub,
	})
	if err != nil {
		return nil, fmt.Errorf("monitoring: invalid Sentry DSN: %w", err)
	}
	return &Monitor{hub: sentry.NewHub(client, sentry.NewScope())}, nil
}

// Enabled reports whether the Monitor sends anything to Sentry.
func (m *Monitor) Enabled() bool { return m.hub != nil }

// Middleware wraps next with Sentry's net/http integration: each request
// gets its own hub (so its scope holds the request), is traced according to
// the sample rate, and a panic is reported, then raised again for an outer
// handler to answer with a 500 page. When disabled it returns next.
func (m *Monitor) Middleware(next http.Handler) http.Handler {
	if m.hub == nil {
		return next
	}
	reporting := sentryhttp.New(sentryhttp.Options{Repanic: true}).Handle(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := sentry.SetHubOnContext(r.Context(), m.hub.Clone())
		reporting.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Flush waits until queued events are sent or ctx is done, and reports
// whether everything was sent. Call it before the process exits.
func (m *Monitor) Flush(ctx context.Context) bool {
	if m.hub == nil {
		return true
	}
	return m.hub.FlushWithContext(ctx)
}

// sensitiveHeaders are removed from the request of every event.
var sensitiveHeaders = []string{
	"Authorization",
	"Cookie",
	"Proxy-Authorization",
	"Set-Cookie",
	"X-Api-Key",
	"X-Csrftoken",
}

// scrub removes cookies and credential headers from an event's request.
func scrub(event *sentry.Event, _ *sentry.EventHint) *sentry.Event {
	req := event.Request
	if req == nil {
		return event
	}
	req.Cookies = ""
	for name := range req.Headers {
		if slices.ContainsFunc(sensitiveHeaders, func(s string) bool { return strings.EqualFold(s, name) }) {
			delete(req.Headers, name)
		}
	}
	return event
}
