package sentryreleasetest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
)

const token = "sntrys_fake_token"

func newServer(t *testing.T) *sentryreleasetest.Server {
	t.Helper()
	s := sentryreleasetest.NewServer(token, "acme", "site")
	t.Cleanup(s.Close)
	return s
}

// call sends body to the fake with the bearer token auth (none when ""),
// and returns the status and the decoded JSON answer.
func call(t *testing.T, s *sentryreleasetest.Server, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, path, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, data, err)
	}
	return resp.StatusCode, out
}

const releases = "api/0/organizations/acme/releases/"

// TestCreateRelease: 201 for a new release, 208 with the same release when
// it exists, and Sentry's 400s for what it refuses.
func TestCreateRelease(t *testing.T) {
	s := newServer(t)
	bearer := "Bearer " + token
	status, rel := call(t, s, "POST", releases, bearer, `{"version":"site@1.0","projects":["site"],"ref":"abc"}`)
	if status != http.StatusCreated || rel["version"] != "site@1.0" || rel["ref"] != "abc" ||
		rel["dateReleased"] != nil {
		t.Errorf("create: %d %v, want 201 with the release, not yet released", status, rel)
	}
	if projects, _ := rel["projects"].([]any); len(projects) != 1 {
		t.Errorf("projects = %v, want the one project", rel["projects"])
	}
	if status, rel = call(t, s, "POST", releases, bearer, `{"version":"site@1.0","projects":["site"]}`); status != 208 ||
		rel["version"] != "site@1.0" || rel["ref"] != "abc" {
		t.Errorf("create again: %d %v, want 208 Already Reported with the release as it was", status, rel)
	}
	for body, field := range map[string]string{
		`{"version":"a/b","projects":["site"]}`:   "version",
		`{"version":"..","projects":["site"]}`:    "version",
		`{"version":"site@2.0"}`:                  "projects",
		`{"version":"site@2.0","projects":["x"]}`: "projects",
	} {
		status, answer := call(t, s, "POST", releases, bearer, body)
		if status != http.StatusBadRequest || answer[field] == nil {
			t.Errorf("%s: %d %v, want 400 naming %s", body, status, answer, field)
		}
	}
	status, answer := call(t, s, "POST", releases, bearer, `{"version":`)
	if detail, _ := answer["detail"].(string); status != 400 || !strings.HasPrefix(detail, "Malformed JSON") {
		t.Errorf("malformed JSON: %d %v", status, answer)
	}
	if _, ok := s.Release("site@2.0"); ok {
		t.Error("a refused release was kept")
	}
}

// TestAuthAndNotFound: every call needs the token as a bearer token, and
// answers 404 with a detail for another organisation, an unknown release or
// path.
func TestAuthAndNotFound(t *testing.T) {
	s := newServer(t)
	body := `{"version":"v1","projects":["site"]}`
	for _, auth := range []string{"", "Bearer wrong", "Token " + token, token} {
		if status, answer := call(t, s, "POST", releases, auth, body); status != http.StatusUnauthorized ||
			answer["detail"] != "Invalid token" {
			t.Errorf("Authorization %q: %d %v, want 401 Invalid token", auth, status, answer)
		}
	}
	bearer := "Bearer " + token
	for _, tc := range []struct{ method, path string }{
		{"POST", "api/0/organizations/other/releases/"},
		{"PUT", releases + "nope/"},
		{"POST", releases + "nope/deploys/"},
		{"GET", "api/0/projects/"},
	} {
		status, answer := call(t, s, tc.method, tc.path, bearer, body)
		if status != http.StatusNotFound || answer["detail"] == nil {
			t.Errorf("%s %s: %d %v, want 404 with a detail", tc.method, tc.path, status, answer)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 8 || reqs[0].Bearer || !reqs[4].Bearer || reqs[4].Status != http.StatusNotFound ||
		reqs[4].String() != "POST /api/0/organizations/other/releases/" || reqs[4].Body != body {
		t.Errorf("requests recorded: %+v", reqs)
	}
}

// TestUpdateAndDeploy: PUT sets what it is given; a deploy needs an
// environment and is kept with the release.
func TestUpdateAndDeploy(t *testing.T) {
	s := newServer(t)
	bearer := "Bearer " + token
	call(t, s, "POST", releases, bearer, `{"version":"v1","projects":["site"]}`)
	status, rel := call(t, s, "PUT", releases+"v1/", bearer, `{"dateReleased":"2024-05-06T07:08:09Z","ref":"abc"}`)
	if status != http.StatusOK || rel["dateReleased"] != "2024-05-06T07:08:09Z" || rel["ref"] != "abc" {
		t.Errorf("update: %d %v", status, rel)
	}
	if status, answer := call(t, s, "POST", releases+"v1/deploys/", bearer, `{}`); status != http.StatusBadRequest ||
		answer["environment"] == nil {
		t.Errorf("a deploy without an environment: %d %v, want 400", status, answer)
	}
	status, dep := call(t, s, "POST", releases+"v1/deploys/", bearer, `{"environment":"production","dateFinished":"x"}`)
	if status != http.StatusCreated || dep["environment"] != "production" || dep["name"] != nil || dep["url"] != nil {
		t.Errorf("deploy: %d %v", status, dep)
	}
	got, ok := s.Release("v1")
	if !ok || len(got.Deploys) != 1 || got.Deploys[0].Environment != "production" {
		t.Fatalf("release = %+v", got)
	}
	got.Deploys[0].Environment = "changed"
	if again, _ := s.Release("v1"); again.Deploys[0].Environment != "production" {
		t.Error("Release returns the fake's own copy")
	}
	if status, rel = call(t, s, "POST", releases, bearer, `{"version":"v1","projects":["site"]}`); status != 208 ||
		rel["deployCount"] != 1.0 {
		t.Errorf("the release after a deploy: %d %v, want deployCount 1", status, rel)
	}
}

func TestFailWith(t *testing.T) {
	s := newServer(t)
	s.FailWith(http.StatusServiceUnavailable)
	if status, answer := call(t, s, "POST", releases, "Bearer "+token, `{}`); status != http.StatusServiceUnavailable ||
		answer["detail"] != "Service Unavailable" {
		t.Errorf("failing: %d %v", status, answer)
	}
	s.FailWith(0)
	if status, _ := call(t, s, "POST", releases, "Bearer "+token, `{"version":"v1","projects":["site"]}`); status != 201 {
		t.Errorf("after FailWith(0): %d, want 201", status)
	}
}

// TestWithTheClient records the same deploy twice through sentryrelease,
// as mage deploy does on a redeploy.
func TestWithTheClient(t *testing.T) {
	s := newServer(t)
	c, err := sentryrelease.New(sentryrelease.Config{URL: s.URL, Token: s.Token, Org: s.Org, Project: s.Project})
	if err != nil {
		t.Fatal(err)
	}
	finished := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	d := sentryrelease.Deploy{
		Version: "site@v1", Commit: "abc", Environment: "production", Name: "web v3", URL: "https://site.example/",
		Finished: finished,
	}
	for range 2 {
		if err := c.Record(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	rel, ok := s.Release("site@v1")
	if !ok || rel.Ref != "abc" || rel.DateReleased != "2024-05-06T07:08:09Z" || len(rel.Projects) != 1 ||
		len(rel.Deploys) != 2 {
		t.Fatalf("release = %+v", rel)
	}
	want := sentryreleasetest.Deploy{
		Environment: "production", Name: "web v3", URL: "https://site.example/", DateFinished: "2024-05-06T07:08:09Z",
	}
	if rel.Deploys[1] != want {
		t.Errorf("deploy = %+v, want %+v", rel.Deploys[1], want)
	}
}
