package heroku_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
)

func TestRetries(t *testing.T) {
	image := digestOf(7)
	for _, tc := range []struct {
		name     string
		fault    herokutest.Fault
		call     string // account, release or rollback
		wantErr  string // "" for success
		requests int    // requests the fake receives for the call
	}{
		{"GET after 429", herokutest.Fault{Status: 429}, "account", "", 2},
		{"GET after 429 with Retry-After 0", herokutest.Fault{Status: 429, RetryAfter: "0"}, "account", "", 2},
		{"GET after 500, 503, 502", herokutest.Fault{Status: 500, Times: 3}, "account", "", 4},
		{"GET gives up after 4 attempts", herokutest.Fault{Status: 503, Times: 10}, "account", "unavailable", 4},
		{"GET does not wait past MaxDelay", herokutest.Fault{Status: 429, RetryAfter: "3600"}, "account", "rate_limit", 1},
		{"release PATCH after 429, body sent again", herokutest.Fault{Method: "PATCH", Status: 429}, "release", "", 2},
		{"release PATCH not repeated after 500", herokutest.Fault{Method: "PATCH", Status: 500}, "release", "internal_server_error", 1},
		{"rollback POST after 429", herokutest.Fault{Method: "POST", Status: 429}, "rollback", "", 2},
		{"rollback POST not repeated after 503", herokutest.Fault{Method: "POST", Status: 503}, "rollback", "unavailable", 1},
		{"401 is not retried", herokutest.Fault{Status: 401}, "account", "unauthorized", 1},
		{"404 is not retried", herokutest.Fault{Status: 404}, "account", "not_found", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := newFake(t)
			ctx := context.Background()
			fake.AddApp(herokutest.App{Name: "oc-web"})
			v1 := fake.AddRelease("oc-web", digestOf(1), heroku.StatusSucceeded)
			images := &herokutest.ImageMap{}
			images.Set("oc-web", image)
			fake.SetImages(images)
			fake.Fail(tc.fault)

			var err error
			switch tc.call {
			case "account":
				_, err = c.Account(ctx)
			case "release":
				err = c.ReleaseImage(ctx, "oc-web", "web", image)
			case "rollback":
				_, err = c.Rollback(ctx, "oc-web", v1.ID)
			}
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
			reqs := fake.Requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d: %v", len(reqs), tc.requests, reqs)
			}
			for _, r := range reqs[1:] {
				if r.Body != reqs[0].Body || r.Accept != reqs[0].Accept || r.Auth != "bearer" {
					t.Errorf("retry differs from the first attempt: %+v vs %+v", r, reqs[0])
				}
			}
			if tc.call != "account" && tc.wantErr == "" {
				if n := len(fake.Releases("oc-web")); n != 2 {
					t.Errorf("%d releases after the retried call, want 2 (exactly one made)", n)
				}
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	fake, c := newFake(t)
	fake.Fail(herokutest.Fault{Status: 429, RetryAfter: "1"})
	start := time.Now()
	if _, err := c.Account(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v, before the Retry-After of 1s", waited)
	}
}

func TestRetryStopsWithTheContext(t *testing.T) {
	fake := herokutest.NewServer(key)
	defer fake.Close()
	slow := heroku.RetryPolicy{Attempts: 10, MinDelay: time.Hour, MaxDelay: time.Hour}
	c := newClient(t, heroku.Config{APIURL: fake.URL, APIKey: key, Retry: slow})
	fake.Fail(herokutest.Fault{Status: 503})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Account(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to notice the context ended", d)
	}
}

func TestRetryNotifies(t *testing.T) {
	fake := herokutest.NewServer(key)
	defer fake.Close()
	var notes []string
	logf := func(format string, _ ...any) { notes = append(notes, format) }
	c := newClient(t, heroku.Config{APIURL: fake.URL, APIKey: key, Retry: fastRetry, Logf: logf})
	fake.Fail(herokutest.Fault{Status: 429})
	if _, err := c.Account(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 {
		t.Errorf("%d retry notices, want 1", len(notes))
	}
}

// A network error on a GET is retried; one on a PATCH is not, because the
// release may have happened.
func TestNetworkErrors(t *testing.T) {
	var calls atomic.Int32
	flaky := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("connection reset by peer")
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	fake := herokutest.NewServer(key)
	defer fake.Close()
	fake.AddApp(herokutest.App{Name: "oc-web"})
	c := newClient(t, heroku.Config{APIURL: fake.URL, APIKey: key, Retry: fastRetry, Transport: flaky})
	if _, err := c.App(context.Background(), "oc-web"); err != nil {
		t.Errorf("GET after a reset: %v, want success", err)
	}
	calls.Store(0)
	err := c.ReleaseImage(context.Background(), "oc-web", "web", digestOf(1))
	if err == nil || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "HEROKU_API_URL") {
		t.Errorf("PATCH after a reset: err = %v, want the reset reported, not retried", err)
	}
}

func TestNonJSONErrorKeepsItsStatus(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>Bad Gateway</body></html>"))
	}))
	defer proxy.Close()
	c := newClient(t, heroku.Config{APIURL: proxy.URL, APIKey: key, Retry: heroku.RetryPolicy{Attempts: 1}})
	_, err := c.Account(context.Background())
	var apiErr *heroku.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want an APIError with status 502", err)
	}
	if !strings.Contains(err.Error(), "status.heroku.com") {
		t.Errorf("error %q gives no hint for a 5xx", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
