package settings

import (
	"errors"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	env := Map(map[string]string{"IMAGE_NAME": " custom ", "DOCKER_REGISTRY": ""})
	if got := ImageName.Get(env); got != "custom" {
		t.Errorf("IMAGE_NAME = %q, want trimmed %q", got, "custom")
	}
	if got := DockerRegistry.Get(env); got != "docker.io" {
		t.Errorf("empty DOCKER_REGISTRY = %q, want default docker.io", got)
	}
	if got := HerokuAPIURL.Get(env); got != "https://api.heroku.com" {
		t.Errorf("unset HEROKU_API_URL = %q, want default", got)
	}
}

func TestRequireReportsEveryMissingVariableAtOnce(t *testing.T) {
	env := Map(map[string]string{"DOCKERHUB_USERNAME": "alice", "HEROKU_APP_NAME": "  "})
	err := Require(env, DockerHubUser, DockerHubPass, HerokuAPIKey, HerokuAppName)
	var missing *MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("Require = %v, want *MissingError", err)
	}
	var names []string
	for _, v := range missing.Vars {
		names = append(names, v.Name)
	}
	if got, want := strings.Join(names, ","), "DOCKERHUB_PASS,HEROKU_API_KEY,HEROKU_APP_NAME"; got != want {
		t.Errorf("missing = %s, want %s", got, want)
	}
	msg := err.Error()
	for _, want := range []string{"3 environment variables", "DOCKERHUB_PASS", "HEROKU_API_KEY", "HEROKU_APP_NAME", "export them"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "DOCKERHUB_USERNAME") {
		t.Errorf("message names a variable that is set: %q", msg)
	}
}

func TestRequireAllSet(t *testing.T) {
	env := Map(map[string]string{"HEROKU_API_KEY": "k", "HEROKU_APP_NAME": "a"})
	if err := Require(env, HerokuAPIKey, HerokuAppName); err != nil {
		t.Errorf("Require = %v, want nil", err)
	}
}

func TestSecretsListsOnlySecretValues(t *testing.T) {
	env := Map(map[string]string{
		"DOCKERHUB_USERNAME": "alice",
		"DOCKERHUB_PASS":     "pw-123",
		"HEROKU_API_KEY":     "key-456",
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

func TestCatalogueIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range All {
		if v.Name == "" || v.Usage == "" {
			t.Errorf("variable %+v lacks a name or usage", v)
		}
		if seen[v.Name] {
			t.Errorf("variable %s listed twice", v.Name)
		}
		seen[v.Name] = true
	}
}
