package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// TestOnlineAgainstRealServices runs the doctor as mage doctor does, against
// the real Docker engine, a real registry standing in for Docker Hub and
// Heroku's registry (asked with no engine), and the fake Heroku Platform API.
func TestOnlineAgainstRealServices(t *testing.T) {
	testenv.Docker(t)
	key := "heroku-key-for-doctor-test"
	reg := testenv.StartRegistry(t, testenv.WithUser("_", key))
	api := herokutest.NewServer(key)
	t.Cleanup(api.Close)
	api.AddApp(herokutest.App{Name: "oc-doctor-container"})
	api.AddApp(herokutest.App{Name: "oc-doctor-buildpack", Stack: "heroku-24"})
	api.AddApp(herokutest.App{Name: "oc-doctor-fir", Generation: "fir"})

	env := func(change func(map[string]string)) settings.Env {
		m := map[string]string{
			"DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password, "DOCKER_REGISTRY": reg.Host,
			"HEROKU_API_KEY": key, "HEROKU_APP_NAME": "oc-doctor-container",
			"HEROKU_API_URL": api.URL, "HEROKU_REGISTRY": reg.Host,
		}
		change(m)
		return settings.Map(m)
	}
	tests := []struct {
		name   string
		change func(map[string]string)
		want   map[string]Status
		detail string // in the output
	}{
		{
			name: "everything accepted", change: func(map[string]string) {},
			want: map[string]Status{
				"Docker engine": OK, "registry credentials": OK, "Heroku API key": OK, "Heroku app": OK, "Heroku registry credentials": OK,
			},
			detail: "accepted, account " + herokutest.Email,
		},
		{
			name: "a wrong registry password", change: func(m map[string]string) { m["DOCKERHUB_PASS"] = "wrong-" + reg.Password },
			want:   map[string]Status{"registry credentials": Fail, "Heroku registry credentials": OK},
			detail: "refused the credentials for user " + reg.User,
		},
		{
			name: "a wrong API key", change: func(m map[string]string) { m["HEROKU_API_KEY"] = "wrong-" + key },
			want:   map[string]Status{"registry credentials": OK, "Heroku API key": Fail, "Heroku app": Skip, "Heroku registry credentials": Fail},
			detail: "HEROKU_API_KEY was refused",
		},
		{
			name: "an app on a buildpack stack", change: func(m map[string]string) { m["HEROKU_APP_NAME"] = "oc-doctor-buildpack" },
			want:   map[string]Status{"Heroku app": Fail},
			detail: "heroku stack:set container -a oc-doctor-buildpack",
		},
		{
			name: "a Fir app", change: func(m map[string]string) { m["HEROKU_APP_NAME"] = "oc-doctor-fir" },
			want:   map[string]Status{"Heroku app": Fail},
			detail: "create a Cedar app with mage heroku:create",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var childOutput strings.Builder
			d := New(&runner.Runner{Out: &childOutput}, "../../..")
			d.Env = env(tt.change)
			d.Git = func(context.Context) (gitinfo.Info, error) { // the work tree may have changes
				return gitinfo.Info{Commit: "0123456789abcdef0123456789abcdef01234567"}, nil
			}
			rep := d.Run(context.Background(), Push|Deploy, true)
			var out strings.Builder
			rep.Print(&out)
			for check, want := range tt.want {
				if r := result(t, rep, check); r.Status != want {
					t.Errorf("%s = %s (%s), want %s", check, r.Status, r.Detail, want)
				}
			}
			if !strings.Contains(squeeze(out.String()), tt.detail) {
				t.Errorf("the output lacks %q:\n%s", tt.detail, out.String())
			}
			all := out.String() + childOutput.String()
			if err := rep.Err(); err != nil {
				all += err.Error()
			}
			for _, secret := range []string{reg.Password, key} {
				if strings.Contains(all, secret) {
					t.Errorf("the output shows a secret:\n%s", all)
				}
			}
		})
	}
}

// BenchmarkOffline measures mage doctor's own work for every stage, offline,
// on this machine: go env, git, the Docker engine's version, the tools and
// the variables.
func BenchmarkOffline(b *testing.B) {
	var out strings.Builder
	d := New(&runner.Runner{Out: &out}, "../../..")
	d.Env = settings.Map(nil)
	for b.Loop() {
		d.Run(context.Background(), Stages, false).Print(&out)
	}
}

// BenchmarkOnline measures mage doctor -online for every stage against the
// real engine, a real registry and the fake Heroku API: two registry checks
// and two Platform API calls on top of the offline work.
func BenchmarkOnline(b *testing.B) {
	testenv.Docker(b)
	key := "heroku-key-for-doctor-bench"
	reg := testenv.StartRegistry(b, testenv.WithUser("_", key))
	api := herokutest.NewServer(key)
	b.Cleanup(api.Close)
	api.AddApp(herokutest.App{Name: "oc-doctor-bench"})
	var out strings.Builder
	d := New(&runner.Runner{Out: &out}, "../../..")
	d.Env = settings.Map(map[string]string{
		"DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password, "DOCKER_REGISTRY": reg.Host,
		"HEROKU_API_KEY": key, "HEROKU_APP_NAME": "oc-doctor-bench", "HEROKU_API_URL": api.URL, "HEROKU_REGISTRY": reg.Host,
	})
	for b.Loop() {
		rep := d.Run(context.Background(), Push|Deploy, true)
		if r := result(b, rep, "Heroku registry credentials"); r.Status != OK {
			b.Fatalf("%+v", r)
		}
	}
}
