package settings

import (
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestGetAndIsSet(t *testing.T) {
	vals, err := Load(Map(map[string]string{"DOCKER_REGISTRY": "  ghcr.io ", "IMAGE_NAME": "   "}), Build)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals.Get(DockerRegistry); got != "ghcr.io" {
		t.Errorf("Get trims: got %q", got)
	}
	if got := vals.Get(ImageName); got != "oc-lettings" || vals.IsSet(ImageName) {
		t.Errorf("a blank value is unset and takes the default: got %q, set %v", got, vals.IsSet(ImageName))
	}
	if vals.IsSet(HerokuAPIKey) {
		t.Error("Load reads only what the target reads")
	}
}

// TestAProblemSaysOnlyWhatApplies: each missing or invalid variable is
// named, with nothing about CircleCI, whose jobs never run these targets.
func TestAProblemSaysOnlyWhatApplies(t *testing.T) {
	for target, want := range map[string]string{
		Run:          "run cannot start:\n  PORT \"abc\" is not a port number: set it to a number between 1 and 65535, such as 8000\nfix the environment and try again",
		HerokuCreate: "heroku:create cannot start:\n  HEROKU_API_KEY is not set: Heroku API key, from heroku authorizations:create\n  HEROKU_APP_NAME is not set: the Heroku app\nfix the environment and try again",
	} {
		if _, err := Load(Map(map[string]string{"PORT": "abc"}), target); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", target, err, want)
		}
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	env := Map(map[string]string{
		"HEROKU_APP_NAME":   "Bad_App!",
		"HEROKU_API_URL":    "http://api.example.com",
		"DEPLOY_HEALTH_URL": "ftp://x",
		"IMAGE_NAME":        "Oc Lettings",
		"DOCKER_REGISTRY":   "https://ghcr.io",
	})
	_, err := Load(env, Deploy)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load = %v, want an *Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"deploy cannot start",
		"HEROKU_API_KEY is not set",
		"DOCKERHUB_USERNAME is not set",
		`HEROKU_APP_NAME "Bad_App!" is not a Heroku app name`,
		"HEROKU_API_URL http://api.example.com: a secret is sent there, so it must be https",
		`DEPLOY_HEALTH_URL "ftp://x" is not an http(s) URL`,
		`IMAGE_NAME "Oc Lettings" is not an image repository name`,
		`DOCKER_REGISTRY "https://ghcr.io" is not a registry host`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if len(e.Problems) != 7 {
		t.Errorf("%d problems, want 7: %q", len(e.Problems), e.Problems)
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		v       Var
		value   string
		wantErr bool
	}{
		{DockerHubUser, "alice", false},
		{DockerHubUser, "alice.b-c_d", false},
		{DockerHubUser, "Alice", true},
		{DockerHubUser, "a/b", true},
		{ImageName, "team/site", false},
		{ImageName, "site-", true},
		{DockerRegistry, "127.0.0.1:5000", false},
		{DockerRegistry, "ghcr.io", false},
		{DockerRegistry, "ghcr.io/alice", true},
		{HerokuAppName, "oc-lettings-prod", false},
		{HerokuAppName, "ab", true},
		{HerokuAppName, "1app", true},
		{HerokuAPIURL, "https://api.heroku.com", false},
		{HerokuAPIURL, "http://127.0.0.1:1234", false},
		{HerokuAPIURL, "http://localhost:1234/", false},
		{HerokuAPIURL, "http://api.heroku.com", true},
		{HerokuAPIURL, "https://user:pw@api.heroku.com", true},
		{HerokuAPIURL, "https://api.heroku.com/?x=1", true},
		{HerokuAPIURL, "api.heroku.com", true},
		{HealthURL, "https://oc.herokuapp.com/healthz", false},
		{HealthURL, "oc.herokuapp.com/healthz", true},
		{SentryDSN, "https://key@o1.ingest.sentry.io/42", false},
		{SentryDSN, "https://o1.ingest.sentry.io/42", true},
		{SentryDSN, "https://key@o1.ingest.sentry.io/", true},
		{Port, "8000", false},
		{Port, "0", true},
		{Port, "abc", true},
		{Port, "70000", true},
	}
	for _, tt := range tests {
		_, err := Load(Map(map[string]string{tt.v.Name: tt.value}), tt.v.Reads[0])
		var e *Error
		got := errors.As(err, &e) && slices.ContainsFunc(e.Problems, func(p string) bool { return strings.HasPrefix(p, tt.v.Name+" ") && !strings.Contains(p, "is not set") })
		if got != tt.wantErr {
			t.Errorf("%s=%q: problem reported %v, want %v (%v)", tt.v.Name, tt.value, got, tt.wantErr, err)
		}
	}
}

func TestAnInvalidSecretIsNotShown(t *testing.T) {
	_, err := Load(Map(map[string]string{"SENTRY_DSN": "not-a-dsn-s3cret"}), RunLocal)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want one that does not show the value", err)
	}
}

func TestSecretsListsOnlySecretValues(t *testing.T) {
	env := Map(map[string]string{
		"DOCKERHUB_USERNAME": "alice",
		"DOCKERHUB_PASS":     "pw-123",
		"HEROKU_API_KEY":     " key-456 ",
		"SENTRY_DSN":         "https://pub@o1.ingest.sentry.io/1",
	})
	got := strings.Join(Secrets(env), " ")
	for _, want := range []string{"pw-123", "key-456", "https://pub@o1.ingest.sentry.io/1"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets lacks %q", want)
		}
	}
	if strings.Contains(got, "alice") {
		t.Errorf("Secrets includes a non-secret value: %q", got)
	}
}

func TestCatalogueIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range All {
		if v.Name == "" || v.Usage == "" || len(v.Reads) == 0 {
			t.Errorf("variable %s lacks a name, a usage or the targets that read it", v.Name)
		}
		if seen[v.Name] {
			t.Errorf("variable %s listed twice", v.Name)
		}
		seen[v.Name] = true
		for _, n := range v.Needs {
			if !slices.Contains(v.Reads, n) {
				t.Errorf("%s: %s needs it but is not among the targets that read it", v.Name, n)
			}
		}
		if v.Default != "" && v.Check != nil && v.Check(v.Default) != nil {
			t.Errorf("%s: its default %q fails its own check", v.Name, v.Default)
		}
		if strings.ContainsAny(v.Usage, "()") {
			t.Errorf("%s: its usage %q has parentheses, which nest badly in messages", v.Name, v.Usage)
		}
	}
}

// TestREADMEListsTheCatalogue keeps README's table of the pipeline's
// variables and the catalogue in step: the same variables, in the same
// order, with the same defaults and the same targets.
func TestREADMEListsTheCatalogue(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### The pipeline\n")
	section, _, _ = strings.Cut(section, "\n#")
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|([^|]*)\\|([^|]*)\\|")
	var got, want []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		got = append(got, m[1]+" | "+strings.TrimSpace(m[2])+" | "+strings.TrimSpace(m[3]))
	}
	for _, v := range All {
		def := v.Unset
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		want = append(want, v.Name+" | "+def+" | "+strings.Join(v.Reads, ", "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README's pipeline variables:\n%s\n\nwant, from the catalogue:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSiteSentry(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want map[string]string
	}{
		{nil, map[string]string{}},
		{
			map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/1"},
			map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/1", "SENTRY_ENVIRONMENT": "production"},
		},
		{map[string]string{"SENTRY_ENVIRONMENT": "staging"}, map[string]string{"SENTRY_ENVIRONMENT": "staging"}},
	} {
		vals, err := Load(Map(tt.env), RunLocal)
		if err != nil {
			t.Fatal(err)
		}
		if got := vals.SiteSentry(); !maps.Equal(got, tt.want) {
			t.Errorf("env %v: SiteSentry() = %v, want %v", tt.env, got, tt.want)
		}
	}
}
