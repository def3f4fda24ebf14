package herokutest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const key = "fake-key"

var image = "sha256:" + strings.Repeat("c", 64)

// call sends a request the way a Platform API client does, unless header
// overrides it, and returns the status, headers and body.
func call(t *testing.T, s *Server, method, path, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", Accept)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

// errorID returns the id of an error body, failing the test when the body
// is not Heroku's {"id", "message"}.
func errorID(t *testing.T, body string) string {
	t.Helper()
	var e struct{ ID, Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.ID == "" || e.Message == "" {
		t.Fatalf("error body %q is not {\"id\", \"message\"}", body)
	}
	return e.ID
}

func newServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer(key)
	t.Cleanup(s.Close)
	s.AddApp(App{Name: "oc-web"})
	return s
}

func TestChecksCredentialsAndAccept(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		id     string
	}{
		{"no token", map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"wrong token", map[string]string{"Authorization": "Bearer other"}, 401, "unauthorized"},
		{"basic auth", map[string]string{"Authorization": "Basic Xzpmb28="}, 401, "unauthorized"},
		{"no Accept", map[string]string{"Accept": ""}, 400, "bad_request"},
		{"plain JSON Accept", map[string]string{"Accept": "application/json"}, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := call(t, s, "GET", "/apps/oc-web", "", tc.header)
			if status != tc.status || errorID(t, body) != tc.id || h.Get("Content-Type") != "application/json" {
				t.Errorf("%d %s, want %d with id %s", status, body, tc.status, tc.id)
			}
		})
	}
	if status, _, body := call(t, s, "GET", "/apps/oc-web", "", nil); status != 200 || !strings.Contains(body, `"name":"oc-web"`) {
		t.Errorf("a proper request: %d %s", status, body)
	}
	if reqs := s.Requests(); reqs[0].Auth != "" || reqs[1].Auth != "other" || reqs[len(reqs)-1].Auth != "bearer" {
		t.Errorf("recorded Auth: %+v", reqs)
	}
}

func TestApps(t *testing.T) {
	s := newServer(t)
	if status, _, body := call(t, s, "GET", "/apps/missing", "", nil); status != 404 || errorID(t, body) != "not_found" {
		t.Errorf("missing app: %d %s", status, body)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"name":"oc-new","stack":"container"}`, 201},
		{`{"name":"oc-new","stack":"container"}`, 422}, // taken
		{`{"name":"Bad_Name"}`, 422},
		{`{"name":"oc-other","stack":"cedar-14"}`, 422},
		{`{"name":`, 400},
	} {
		status, _, body := call(t, s, "POST", "/apps", tc.body, nil)
		if status != tc.status {
			t.Errorf("POST /apps %s: %d %s, want %d", tc.body, status, body, tc.status)
		}
	}
	status, _, body := call(t, s, "PATCH", "/apps/oc-new", `{"build_stack":"heroku-24"}`, nil)
	var app struct {
		WebURL string `json:"web_url"`
	}
	_ = json.Unmarshal([]byte(body), &app)
	if status != 200 || !strings.Contains(body, `"build_stack":{"id":"00000009-0000-4000-8000-000000000000","name":"heroku-24"}`) ||
		app.WebURL != "https://oc-new.herokuapp.com/" {
		t.Errorf("PATCH build_stack: %d %s", status, body)
	}
}

func TestConfigVars(t *testing.T) {
	s := newServer(t)
	call(t, s, "PATCH", "/apps/oc-web/config-vars", `{"A":"1","B":"2"}`, nil)
	status, _, body := call(t, s, "PATCH", "/apps/oc-web/config-vars", `{"A":null}`, nil)
	if status != 200 || strings.TrimSpace(body) != `{"B":"2"}` {
		t.Errorf("after removing A: %d %s", status, body)
	}
	if status, _, _ := call(t, s, "PATCH", "/apps/oc-web/config-vars", `{"bad-name":"x"}`, nil); status != 422 {
		t.Errorf("invalid name: %d, want 422", status)
	}
}

func TestFormationRelease(t *testing.T) {
	s := newServer(t)
	images := &ImageMap{}
	s.SetImages(images)
	docker := map[string]string{"Accept": AcceptDockerReleases}
	body := `{"updates":[{"type":"web","docker_image":"` + image + `"}]}`
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
		status int
	}{
		{"the plain v3 Accept", body, nil, 422},
		{"not pushed", body, docker, 422},
		{"a tag, not an image ID", `{"updates":[{"type":"web","docker_image":"latest"}]}`, docker, 422},
		{"a worker", `{"updates":[{"type":"worker","docker_image":"` + image + `"}]}`, docker, 422},
	} {
		if status, _, resp := call(t, s, "PATCH", "/apps/oc-web/formation", tc.body, tc.header); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, resp, tc.status)
		}
	}
	if n := len(s.Releases("oc-web")); n != 0 {
		t.Fatalf("%d releases after refused updates", n)
	}
	images.Set("oc-web", image)
	s.PlanRelease(ReleasePlan{Polls: 1})
	status, _, resp := call(t, s, "PATCH", "/apps/oc-web/formation", body, docker)
	if status != 200 || !strings.HasPrefix(resp, `[{"app":`) {
		t.Fatalf("release: %d %s", status, resp)
	}
	if rels := s.Releases("oc-web"); len(rels) != 1 || rels[0].Status != "pending" || rels[0].Current {
		t.Fatalf("releases = %+v, want v1 pending", rels)
	}
	for i, want := range []string{`"status":"pending"`, `"status":"succeeded"`} {
		if _, _, r := call(t, s, "GET", "/apps/oc-web/releases/1", "", nil); !strings.Contains(r, want) || (i == 1) != strings.Contains(r, `"current":true`) {
			t.Errorf("read %d of v1: %s, want %s", i+1, r, want)
		}
	}
	call(t, s, "PATCH", "/apps/oc-web/formation", body, docker)
	if n := len(s.Releases("oc-web")); n != 1 {
		t.Errorf("the current image again made a release: %d releases", n)
	}

	s.AddApp(App{Name: "oc-slug", Stack: "heroku-24"})
	images.Set("oc-slug", image)
	if status, _, resp := call(t, s, "PATCH", "/apps/oc-slug/formation", body, docker); status != 422 || !strings.Contains(resp, "stack:set container") {
		t.Errorf("an app on heroku-24: %d %s", status, resp)
	}
}

func TestReleaseListRanges(t *testing.T) {
	s := newServer(t)
	for i := 0; i < 7; i++ {
		s.AddRelease("oc-web", image, "succeeded")
	}
	versions := func(body string) string {
		var list []struct{ Version int }
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range list {
			out = append(out, string(rune('0'+r.Version)))
		}
		return strings.Join(out, "")
	}
	for _, tc := range []struct {
		rng, versions           string
		status                  int
		contentRange, nextRange string
	}{
		{"", "1234567", 200, "version 1..7", ""},
		{"version ..; max=3", "123", 206, "version 1..3", "version ]3..; order=asc, max=3"},
		{"version ]3..; order=asc, max=3", "456", 206, "version 4..6", "version ]6..; order=asc, max=3"},
		{"version ..; order=desc, max=1", "7", 206, "version 7..7", "version ]7..; order=desc, max=1"},
		{"version ..; max=1,order=desc", "7", 206, "version 7..7", "version ]7..; order=desc, max=1"}, // heroku-go's form
		{"version ]5..; order=desc, max=10", "4321", 200, "version 4..1", ""},
		{"version 2..4", "234", 200, "version 2..4", ""},
		{"version 2..4[", "23", 200, "version 2..3", ""},
	} {
		status, h, body := call(t, s, "GET", "/apps/oc-web/releases", "", map[string]string{"Range": tc.rng})
		if status != tc.status || versions(body) != tc.versions || h.Get("Content-Range") != tc.contentRange || h.Get("Next-Range") != tc.nextRange {
			t.Errorf("Range %q: %d versions %s Content-Range %q Next-Range %q; want %d %s %q %q",
				tc.rng, status, versions(body), h.Get("Content-Range"), h.Get("Next-Range"), tc.status, tc.versions, tc.contentRange, tc.nextRange)
		}
	}
	for _, bad := range []string{"name ..", "version a..b", "version ..; order=up", "version ..; max=0"} {
		if status, _, body := call(t, s, "GET", "/apps/oc-web/releases", "", map[string]string{"Range": bad}); status != 400 || errorID(t, body) != "bad_request" {
			t.Errorf("Range %q: %d %s, want 400", bad, status, body)
		}
	}
}

func TestRollback(t *testing.T) {
	s := newServer(t)
	v1 := s.AddRelease("oc-web", image, "succeeded")
	bad := s.AddRelease("oc-web", "sha256:"+strings.Repeat("d", 64), "failed")
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"release":"` + bad.ID + `"}`, 422},
		{`{"release":"00000000-0000-0000-0000-000000000000"}`, 404},
		{`{"slug":"x"}`, 422},
		{`{"release":"` + v1.ID + `"}`, 201},
	} {
		if status, _, body := call(t, s, "POST", "/apps/oc-web/releases", tc.body, nil); status != tc.status {
			t.Errorf("POST %s: %d %s, want %d", tc.body, status, body, tc.status)
		}
	}
	rels := s.Releases("oc-web")
	if len(rels) != 3 || rels[2].Description != "Rollback to v1" || !rels[2].Current || rels[2].Image != image {
		t.Errorf("releases = %+v", rels)
	}
}

func TestFaults(t *testing.T) {
	s := newServer(t)
	s.Fail(Fault{Method: "GET", Path: "/account", Status: 429, RetryAfter: "7", Times: 2})
	for i := 0; i < 2; i++ {
		status, h, body := call(t, s, "GET", "/account", "", nil)
		if status != 429 || h.Get("Retry-After") != "7" || errorID(t, body) != "rate_limit" {
			t.Errorf("try %d: %d %q %s", i+1, status, h.Get("Retry-After"), body)
		}
	}
	if status, _, _ := call(t, s, "GET", "/account", "", nil); status != 200 {
		t.Errorf("after the fault is used up: %d", status)
	}
	s.Fail(Fault{Method: "PATCH", Status: 500, Processed: true})
	if status, _, _ := call(t, s, "PATCH", "/apps/oc-web/config-vars", `{"A":"1"}`, nil); status != 500 {
		t.Errorf("processed fault: %d, want 500", status)
	}
	if s.ConfigVars("oc-web")["A"] != "1" {
		t.Error("a Processed fault did not let the request take effect")
	}
}

func TestStream(t *testing.T) {
	s := newServer(t)
	v1 := s.AddRelease("oc-web", image, "succeeded")
	s.PlanRelease(ReleasePlan{Output: "line one\nline two\n", StreamMissing: 1})
	_, _, body := call(t, s, "POST", "/apps/oc-web/releases", `{"release":"`+v1.ID+`"}`, nil)
	var rel struct {
		OutputStreamURL string `json:"output_stream_url"`
	}
	if err := json.Unmarshal([]byte(body), &rel); err != nil || rel.OutputStreamURL == "" {
		t.Fatalf("release %s has no output_stream_url", body)
	}
	get := func(rng string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, rel.OutputStreamURL, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if status, _ := get(""); status != 404 {
		t.Errorf("first request: %d, want 404", status)
	}
	if status, out := get(""); status != 200 || out != "line one\nline two\n" {
		t.Errorf("second request: %d %q", status, out)
	}
	if status, out := get("bytes=9-"); status != 206 || out != "line two\n" {
		t.Errorf("resumed: %d %q", status, out)
	}
}
