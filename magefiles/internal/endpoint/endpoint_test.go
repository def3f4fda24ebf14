package endpoint_test

import (
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/endpoint"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // the base URL, or what the error says
		ok   bool
	}{
		{"", "https://sentry.io", true},
		{"  ", "https://sentry.io", true},
		{"https://sentry.example.com/", "https://sentry.example.com", true},
		{" https://sentry.example.com/base/ ", "https://sentry.example.com/base", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"http://[::1]:8080/", "http://[::1]:8080", true},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://sentry.example.com", "SENTRY_AUTH_TOKEN may only travel over https", false},
		{"ftp://127.0.0.1/", "may only travel over https", false},
		{"https://user:pw@sentry.example.com", "must not carry credentials", false},
		{"https://sentry.example.com/?token=x", "must not carry credentials, a query", false},
		{"https://sentry.example.com/#x", "or a fragment", false},
		{"sentry example com", `SENTRY_URL "sentry example com" is not a URL such as https://sentry.io/`, false},
		{"://", "is not a URL", false},
	} {
		got, err := endpoint.Check(settings.SentryURL, tc.raw, settings.SentryAuthToken)
		switch {
		case tc.ok && (err != nil || got != tc.want):
			t.Errorf("Check(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%q) = %q, %v; want an error saying %q", tc.raw, got, err, tc.want)
		case !tc.ok && strings.Contains(err.Error(), "pw"):
			t.Errorf("Check(%q): the error shows the password: %v", tc.raw, err)
		}
	}
}
