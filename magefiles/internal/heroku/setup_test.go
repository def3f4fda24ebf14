package heroku_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
)

const dsn = "https://public-key-secret@o1.ingest.sentry.io/2"

func TestEnsureApp(t *testing.T) {
	vars := map[string]string{"SENTRY_DSN": dsn, "SENTRY_ENVIRONMENT": "production"}
	for _, tc := range []struct {
		name  string
		setup func(*herokutest.Server)
		want  heroku.Setup
		stack string   // the app's stack afterwards
		calls []string // the requests that change something
	}{
		{
			name:  "a new app",
			setup: func(*herokutest.Server) {},
			want:  heroku.Setup{Created: true, Set: []string{"SENTRY_DSN", "SENTRY_ENVIRONMENT"}},
			stack: "container",
			calls: []string{"POST /apps", "PATCH /apps/oc-web/config-vars"},
		},
		{
			name:  "an app on another stack",
			setup: func(f *herokutest.Server) { f.AddApp(herokutest.App{Name: "oc-web", Stack: "heroku-24"}) },
			want:  heroku.Setup{StackSet: true, OldStack: "heroku-24", Set: []string{"SENTRY_DSN", "SENTRY_ENVIRONMENT"}},
			stack: "heroku-24", // until the next release, as with heroku stack:set
			calls: []string{`PATCH /apps/oc-web {"build_stack":"container"}`, "PATCH /apps/oc-web/config-vars"},
		},
		{
			name: "an app already set up",
			setup: func(f *herokutest.Server) {
				f.AddApp(herokutest.App{Name: "oc-web"})
				c := newClient(t, heroku.Config{APIURL: f.URL, APIKey: key})
				if _, err := c.EnsureApp(context.Background(), "oc-web", map[string]string{"SENTRY_DSN": dsn}); err != nil {
					panic(err)
				}
			},
			want:  heroku.Setup{Set: []string{"SENTRY_ENVIRONMENT"}, Unchanged: []string{"SENTRY_DSN"}},
			stack: "container",
			calls: []string{"PATCH /apps/oc-web/config-vars"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, c := newFake(t)
			tc.setup(fake)
			before := len(fake.Requests())
			got, err := c.EnsureApp(context.Background(), "oc-web", vars)
			if err != nil {
				t.Fatal(err)
			}
			if got.App.Name != "oc-web" || got.App.BuildStack != "container" || got.App.Stack != tc.stack {
				t.Errorf("app = %+v, want oc-web building on container, on the %s stack", got.App, tc.stack)
			}
			got.App = heroku.App{}
			if strings.Join(got.Set, ",") != strings.Join(tc.want.Set, ",") || strings.Join(got.Unchanged, ",") != strings.Join(tc.want.Unchanged, ",") ||
				got.Created != tc.want.Created || got.StackSet != tc.want.StackSet || got.OldStack != tc.want.OldStack {
				t.Errorf("setup = %+v, want %+v", got, tc.want)
			}
			var calls []string
			for _, r := range fake.Requests()[before:] {
				switch {
				case r.Path == "/apps/oc-web" && r.Method != http.MethodGet:
					calls = append(calls, r.String()+" "+strings.TrimSpace(r.Body))
				case r.Method != http.MethodGet:
					calls = append(calls, r.String())
				}
			}
			if strings.Join(calls, "; ") != strings.Join(tc.calls, "; ") {
				t.Errorf("changing requests = %v, want %v", calls, tc.calls)
			}
			if v := fake.ConfigVars("oc-web"); v["SENTRY_DSN"] != dsn || v["SENTRY_ENVIRONMENT"] != "production" {
				t.Errorf("config vars = %v", v)
			}

			// Again: nothing to do.
			before = len(fake.Requests())
			again, err := c.EnsureApp(context.Background(), "oc-web", vars)
			if err != nil {
				t.Fatal(err)
			}
			if again.Created || again.StackSet || len(again.Set) != 0 || len(again.Unchanged) != 2 {
				t.Errorf("second run = %+v, want nothing done", again)
			}
			for _, r := range fake.Requests()[before:] {
				if r.Method != http.MethodGet {
					t.Errorf("second run sent %s", r)
				}
			}
		})
	}
}

func TestEnsureAppErrorsHideConfigValues(t *testing.T) {
	fake, c := newFake(t)
	fake.AddApp(herokutest.App{Name: "oc-web"})
	fake.Fail(herokutest.Fault{Method: "PATCH", Status: 422, ID: "invalid_params", Message: "Invalid config vars"})
	_, err := c.EnsureApp(context.Background(), "oc-web", map[string]string{"SENTRY_DSN": dsn})
	if err == nil || !strings.Contains(err.Error(), "SENTRY_DSN") || !strings.Contains(err.Error(), "invalid_params") {
		t.Fatalf("err = %v, want the var named and Heroku's answer", err)
	}
	if strings.Contains(err.Error(), "public-key-secret") {
		t.Errorf("the error shows the DSN: %v", err)
	}
}

func TestEnsureAppNameTaken(t *testing.T) {
	fake, c := newFake(t)
	fake.Fail(herokutest.Fault{Method: "POST", Path: "/apps", Status: 422, ID: "invalid_params", Message: "Name oc-web is already taken"})
	_, err := c.EnsureApp(context.Background(), "oc-web", nil)
	if err == nil || !strings.Contains(err.Error(), "already taken") || !strings.Contains(err.Error(), "choose another HEROKU_APP_NAME") {
		t.Errorf("err = %v, want the name taken and what to do", err)
	}
}
