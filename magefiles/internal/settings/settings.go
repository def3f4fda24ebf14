// Package settings is the catalogue of environment variables the pipeline
// reads, with their defaults, and the one place that reports missing ones.
//
// Secrets and CI settings come from the environment, as in the original
// CircleCI set-up (DOCKERHUB_USERNAME, DOCKERHUB_PASS, HEROKU_API_KEY,
// HEROKU_APP_NAME). Every endpoint has a production default and an override,
// so the same code runs against Docker Hub and Heroku or against local
// stand-ins.
package settings

import (
	"fmt"
	"os"
	"strings"
)

// A Var is one environment variable the pipeline reads.
type Var struct {
	Name    string
	Default string // used when the variable is unset or empty
	Secret  bool   // never printed; masked in all output
	Usage   string // what it is for, in a few words
}

// The variables, grouped by the stage that reads them.
var (
	DockerHubUser  = Var{Name: "DOCKERHUB_USERNAME", Usage: "Docker Hub account that owns the image (unset: build under a local name)"}
	DockerHubPass  = Var{Name: "DOCKERHUB_PASS", Secret: true, Usage: "Docker Hub password or access token, for push and pull"}
	DockerRegistry = Var{Name: "DOCKER_REGISTRY", Default: "docker.io", Usage: "registry the image is pushed to (GHCR, ECR or a local registry instead of Docker Hub)"}
	ImageName      = Var{Name: "IMAGE_NAME", Default: "oc-lettings", Usage: "repository name of the image"}

	HerokuAPIKey   = Var{Name: "HEROKU_API_KEY", Secret: true, Usage: "Heroku API key (heroku authorizations:create), for the Platform API and registry.heroku.com"}
	HerokuAppName  = Var{Name: "HEROKU_APP_NAME", Usage: "Heroku app to deploy to"}
	HerokuAPIURL   = Var{Name: "HEROKU_API_URL", Default: "https://api.heroku.com", Usage: "Heroku Platform API endpoint"}
	HerokuRegistry = Var{Name: "HEROKU_REGISTRY", Default: "registry.heroku.com", Usage: "Heroku container registry"}
	HealthURL      = Var{Name: "DEPLOY_HEALTH_URL", Usage: "URL the deploy checks for the new commit (default: the app's web_url + healthz)"}

	SentryDSN         = Var{Name: "SENTRY_DSN", Secret: true, Usage: "Sentry DSN given to the app (unset: error reporting off)"}
	SentryEnvironment = Var{Name: "SENTRY_ENVIRONMENT", Default: "production", Usage: "Sentry environment of a deployed app"}
	SentryAuthToken   = Var{Name: "SENTRY_AUTH_TOKEN", Secret: true, Usage: "Sentry auth token with project:releases scope, for release tracking"}
	SentryOrg         = Var{Name: "SENTRY_ORG", Usage: "Sentry organisation slug, for release tracking"}
	SentryProject     = Var{Name: "SENTRY_PROJECT", Usage: "Sentry project slug, for release tracking"}
	SentryURL         = Var{Name: "SENTRY_URL", Default: "https://sentry.io/", Usage: "Sentry web API endpoint"}

	Port           = Var{Name: "PORT", Default: "8000", Usage: "port the site listens on (mage run, mage runLocal)"}
	TestResultsDir = Var{Name: "TEST_RESULTS_DIR", Usage: "directory for JUnit XML and coverage written by mage test"}
	CircleCISchema = Var{Name: "CIRCLECI_SCHEMA", Default: "../shared/circleci/schema.json", Usage: "CircleCI config JSON schema that mage lint checks against"}
)

// All lists every variable, in the order the README documents them.
var All = []Var{
	DockerHubUser, DockerHubPass, DockerRegistry, ImageName,
	HerokuAPIKey, HerokuAppName, HerokuAPIURL, HerokuRegistry, HealthURL,
	SentryDSN, SentryEnvironment, SentryAuthToken, SentryOrg, SentryProject, SentryURL,
	Port, TestResultsDir, CircleCISchema,
}

// Env looks up an environment variable. os.LookupEnv is one; tests use Map.
type Env func(name string) (string, bool)

// OS is the process environment.
var OS Env = os.LookupEnv

// Map is an environment held in a map, for tests.
func Map(m map[string]string) Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Get returns the variable's value in env, or its default when unset or empty.
func (v Var) Get(env Env) string {
	if val, _ := env(v.Name); strings.TrimSpace(val) != "" {
		return strings.TrimSpace(val)
	}
	return v.Default
}

// IsSet reports whether env gives the variable a non-empty value.
func (v Var) IsSet(env Env) bool {
	val, _ := env(v.Name)
	return strings.TrimSpace(val) != ""
}

// Require returns a *MissingError naming every variable in vars that env
// does not set, or nil when all are set. Defaults do not count as set.
func Require(env Env, vars ...Var) error {
	var missing []Var
	for _, v := range vars {
		if !v.IsSet(env) {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingError{Vars: missing}
}

// MissingError lists required variables that are not set.
type MissingError struct {
	Vars []Var
}

func (e *MissingError) Error() string {
	var b strings.Builder
	if len(e.Vars) == 1 {
		b.WriteString("missing environment variable ")
	} else {
		fmt.Fprintf(&b, "missing %d environment variables: ", len(e.Vars))
	}
	for i, v := range e.Vars {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", v.Name, v.Usage)
	}
	b.WriteString("; export them (in CircleCI: project settings or a context) and try again")
	return b.String()
}

// Secrets returns the values env gives to secret variables, for masking.
func Secrets(env Env) []string {
	var out []string
	for _, v := range All {
		if v.Secret && v.IsSet(env) {
			val, _ := env(v.Name)
			out = append(out, val, strings.TrimSpace(val))
		}
	}
	return out
}
