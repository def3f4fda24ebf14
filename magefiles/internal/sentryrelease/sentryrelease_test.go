package sentryrelease_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease/sentryreleasetest"
)

const token = "sntrys_test_token_0123456789"

var finished = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func deploy() sentryrelease.Deploy {
	return sentryrelease.Deploy{
		Version: "oc-lettings@v1.2.0-3-gabc1234", Commit: "abc1234def", Environment: "production",
		Name: "oc-web v8", URL: "https://oc-web.herokuapp.com/",
		Started: finished.Add(-time.Minute), Finished: finished,
	}
}

func newFake(t *testing.T) (*sentryreleasetest.Server, *sentryrelease.Client) {
	t.Helper()
	fake := sentryreleasetest.NewServer(token, "acme", "oc-lettings")
	t.Cleanup(fake.Close)
	c, err := sentryrelease.New(sentryrelease.Config{URL: fake.URL, Token: token, Org: "acme", Project: "oc-lettings"})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestRecordCreatesFinalisesAndDeploys(t *testing.T) {
	fake, c := newFake(t)
	if err := c.Record(context.Background(), deploy()); err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	want := []string{
		"POST /api/0/organizations/acme/releases/",
		"PUT /api/0/organizations/acme/releases/oc-lettings@v1.2.0-3-gabc1234/",
		"POST /api/0/organizations/acme/releases/oc-lettings@v1.2.0-3-gabc1234/deploys/",
	}
	if len(reqs) != len(want) {
		t.Fatalf("requests = %v, want %v", reqs, want)
	}
	for i, r := range reqs {
		if r.String() != want[i] || !r.Bearer || r.Status/100 != 2 {
			t.Errorf("request %d = %s (bearer %v, status %d), want %s with the bearer token and a 2xx", i, r, r.Bearer, r.Status, want[i])
		}
	}
	assertJSON(t, reqs[0].Body, map[string]any{"version": "oc-lettings@v1.2.0-3-gabc1234", "projects": []any{"oc-lettings"}, "ref": "abc1234def"})
	assertJSON(t, reqs[1].Body, map[string]any{"dateReleased": "2024-05-06T07:08:09Z"})
	assertJSON(t, reqs[2].Body, map[string]any{
		"environment": "production", "projects": []any{"oc-lettings"}, "name": "oc-web v8",
		"url": "https://oc-web.herokuapp.com/", "dateStarted": "2024-05-06T07:07:09Z", "dateFinished": "2024-05-06T07:08:09Z",
	})
	rel, ok := fake.Release("oc-lettings@v1.2.0-3-gabc1234")
	if !ok || rel.DateReleased == "" || len(rel.Deploys) != 1 || rel.Deploys[0].Environment != "production" {
		t.Errorf("release in the fake = %+v, want finalised with one production deploy", rel)
	}
}

// A release that exists and is finalised (a redeploy, or a rollback to it)
// gets a new deploy only.
func TestRecordAgainAddsADeployOnly(t *testing.T) {
	fake, c := newFake(t)
	ctx := context.Background()
	if err := c.Record(ctx, deploy()); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(ctx, deploy()); err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	if len(reqs) != 5 || reqs[3].Status != http.StatusAlreadyReported || reqs[4].String() != "POST /api/0/organizations/acme/releases/oc-lettings@v1.2.0-3-gabc1234/deploys/" {
		t.Errorf("requests = %+v, want create (208), then the deploy only", reqs[3:])
	}
	rel, _ := fake.Release("oc-lettings@v1.2.0-3-gabc1234")
	if len(rel.Deploys) != 2 {
		t.Errorf("%d deploys, want 2", len(rel.Deploys))
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(url string) sentryrelease.Config
		status int
		want   []string
	}{
		{"wrong token", func(u string) sentryrelease.Config {
			return sentryrelease.Config{URL: u, Token: "wrong", Org: "acme", Project: "oc-lettings"}
		}, 0, []string{"HTTP 401", "Invalid token", "SENTRY_AUTH_TOKEN"}},
		{"wrong organisation", func(u string) sentryrelease.Config {
			return sentryrelease.Config{URL: u, Token: token, Org: "other", Project: "oc-lettings"}
		}, 0, []string{"HTTP 404", "SENTRY_ORG"}},
		{"wrong project", func(u string) sentryrelease.Config {
			return sentryrelease.Config{URL: u, Token: token, Org: "acme", Project: "other"}
		}, 0, []string{"HTTP 400", "Invalid project"}},
		{"server failing", func(u string) sentryrelease.Config {
			return sentryrelease.Config{URL: u, Token: token, Org: "acme", Project: "oc-lettings"}
		}, http.StatusBadGateway, []string{"HTTP 502", "try again later"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, _ := newFake(t)
			fake.FailWith(tc.status)
			c, err := sentryrelease.New(tc.cfg(fake.URL))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Record(context.Background(), deploy())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestAllThreeSettingsOrNone(t *testing.T) {
	if missing := (sentryrelease.Config{Token: "t", Org: "o", Project: "p"}).Missing(); len(missing) != 0 {
		t.Errorf("a full config misses %v", missing)
	}
	cfg := sentryrelease.Config{Token: token, Project: "oc"}
	if missing := cfg.Missing(); strings.Join(missing, " ") != "SENTRY_ORG" {
		t.Errorf("Missing = %v, want SENTRY_ORG", missing)
	}
	if _, err := sentryrelease.New(cfg); err == nil || !strings.Contains(err.Error(), "needs SENTRY_ORG") {
		t.Errorf("New with a missing setting: %v", err)
	}
}

func assertJSON(t *testing.T, body string, want map[string]any) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if len(got) != len(want) {
		t.Errorf("body = %v, want %v", got, want)
	}
	for k, v := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(v)
		if string(gb) != string(wb) {
			t.Errorf("body[%q] = %s, want %s", k, gb, wb)
		}
	}
}
