package monitoring

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getsentry/sentry-go"
)

func TestDisabledWithoutDSN(t *testing.T) {
	m, err := New(Options{Environment: "test", TracesSampleRate: 1})
	if err != nil {
		t.Fatalf("New without a DSN: %v", err)
	}
	if m.Enabled() {
		t.Error("Enabled() = true without a DSN")
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sentry.HasHubOnContext(r.Context()) {
			t.Error("a disabled Monitor put a Sentry hub on the request")
		}
		w.WriteHeader(http.StatusTeapot)
	})
	w := httptest.NewRecorder()
	m.Middleware(next).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusTeapot {
		t.Errorf("status %d, want the wrapped handler's 418", w.Code)
	}
	if !m.Flush(t.Context()) {
		t.Error("Flush of a disabled Monitor reported unsent events")
	}
}

func TestInvalidDSN(t *testing.T) {
	_, err := New(Options{DSN: "not a dsn"})
	if err == nil || !strings.Contains(err.Error(), "invalid Sentry DSN") {
		t.Errorf("New with a malformed DSN: error %v, want one saying the DSN is invalid", err)
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    map[string]string
	}{
		{
			"credentials removed",
			map[string]string{
				"Authorization": "Bearer t0ken", "Cookie": "sessionid=abc", "Proxy-Authorization": "Basic x",
				"X-Api-Key": "k", "Accept": "text/html", "User-Agent": "curl/8",
			},
			map[string]string{"Accept": "text/html", "User-Agent": "curl/8"},
		},
		{
			"any case",
			map[string]string{"authorization": "Bearer t0ken", "COOKIE": "a=b", "Host": "example.com"},
			map[string]string{"Host": "example.com"},
		},
		{"no headers", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := &sentry.Event{Request: &sentry.Request{Cookies: "sessionid=abc", Headers: tt.headers}}
			got := scrub(event, nil)
			if got != event {
				t.Fatal("scrub did not return the event")
			}
			if got.Request.Cookies != "" {
				t.Errorf("Cookies = %q, want empty", got.Request.Cookies)
			}
			if len(got.Request.Headers) != len(tt.want) {
				t.Errorf("headers = %v, want %v", got.Request.Headers, tt.want)
			}
			for k, v := range tt.want {
				if got.Request.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, got.Request.Headers[k], v)
				}
			}
		})
	}
	if got := scrub(&sentry.Event{}, nil); got == nil {
		t.Error("scrub dropped an event without a request")
	}
}
