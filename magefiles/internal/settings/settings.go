// Package settings is the catalogue of environment variables the pipeline
// reads: for each, its default, which targets read it, which cannot run
// without it, and what a valid value looks like. The magefiles read the
// environment once, through Load; the same catalogue feeds mage doctor and
// README.md's tables, which a test keeps in step with it. Every endpoint has
// a production default and an override, for local stand-ins.
package settings

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
)

// A Var is one environment variable the pipeline reads.
type Var struct {
	Name    string
	Default string             // used when the variable is unset or empty
	Unset   string             // what happens when a variable without a default is unset
	Usage   string             // what it is for, in a few words
	Secret  bool               // never shown; masked in all output
	Context string             // the CircleCI context that holds it
	Reads   []string           // the targets that read it
	Needs   []string           // the targets, among Reads, that cannot run without it
	Check   func(string) error // what is wrong with a value; nil accepts any
	// Platform, when set, is the DEPLOY_PLATFORM whose deploys read the
	// variable: deploy leaves it alone for the other platform.
	Platform string
}

// Targets that read variables, as mage names them.
const (
	Run          = "run"
	Test         = "test"
	Lint         = "lint"
	Build        = "build"
	Push         = "push"
	RunLocal     = "runLocal"
	Deploy       = "deploy"
	HerokuCreate = "heroku:create"
	AWSCreate    = "aws:create"
)

// The platforms mage deploy releases the site on (DEPLOY_PLATFORM).
const (
	Heroku = "heroku"
	AWS    = "aws"
)

// The variables, grouped by what they are about.
var (
	DockerHubUser = Var{
		Name: "DOCKERHUB_USERNAME", Usage: "Docker Hub account that owns the image",
		Unset: "a local image name", Context: "dockerhub",
		Reads: []string{Build, Push, RunLocal, Deploy}, Needs: []string{Push, Deploy}, Check: pathComponent,
	}
	DockerHubPass = Var{
		Name: "DOCKERHUB_PASS", Usage: "Docker Hub password or, better, an access token",
		Secret: true, Context: "dockerhub", Unset: "pulls are anonymous",
		Reads: []string{Push, RunLocal, Deploy}, Needs: []string{Push},
	}
	DockerRegistry = Var{
		Name: "DOCKER_REGISTRY", Default: "docker.io", Usage: "registry instead of Docker Hub: GHCR, ECR, a local one",
		Reads: []string{Build, Push, RunLocal, Deploy}, Check: registryHost,
	}
	ImageName = Var{
		Name: "IMAGE_NAME", Default: "oc-lettings", Usage: "repository name of the image",
		Reads: []string{Build, Push, RunLocal, Deploy, AWSCreate}, Check: repositoryPath,
	}

	HerokuAPIKey = Var{
		Name: "HEROKU_API_KEY", Usage: "Heroku API key, from heroku authorizations:create",
		Secret: true, Context: "heroku",
		Reads: []string{Deploy, HerokuCreate}, Needs: []string{Deploy, HerokuCreate}, Platform: Heroku,
	}
	HerokuAppName = Var{
		Name: "HEROKU_APP_NAME", Usage: "the Heroku app", Context: "heroku",
		Reads: []string{Deploy, HerokuCreate}, Needs: []string{Deploy, HerokuCreate}, Check: herokuAppName, Platform: Heroku,
	}
	HerokuAPIURL = Var{
		Name: "HEROKU_API_URL", Default: "https://api.heroku.com", Usage: "Heroku Platform API endpoint",
		Reads: []string{Deploy, HerokuCreate}, Check: secretEndpoint, Platform: Heroku,
	}
	HerokuRegistry = Var{
		Name: "HEROKU_REGISTRY", Default: "registry.heroku.com", Usage: "Heroku's container registry",
		Reads: []string{Deploy}, Check: registryHost, Platform: Heroku,
	}
	DeployPlatform = Var{
		Name: "DEPLOY_PLATFORM", Default: Heroku, Usage: "where mage deploy releases the site: heroku or aws",
		Context: "aws", Reads: []string{Deploy}, Check: oneOf(Heroku, AWS),
	}
	HealthURL = Var{
		Name: "DEPLOY_HEALTH_URL", Usage: "URL that must report the deployed commit",
		Unset: "the app's web URL + healthz", Reads: []string{Deploy}, Check: webURL,
	}

	AWSRegion = Var{
		Name: "AWS_REGION", Usage: "AWS region of the service, e.g. eu-west-3", Context: "aws",
		Reads: []string{Deploy, AWSCreate}, Needs: []string{Deploy, AWSCreate}, Check: awsRegion, Platform: AWS,
	}
	AWSRoleARN = Var{
		Name: "AWS_ROLE_ARN", Usage: "IAM role the CircleCI OIDC token assumes", Context: "aws",
		Unset: "the SDK's credential chain: keys, AWS_PROFILE, SSO", Reads: []string{Deploy, AWSCreate},
		Check: roleARN, Platform: AWS,
	}
	AWSAccessKeyID = Var{
		Name: "AWS_ACCESS_KEY_ID", Usage: "AWS access key, when no role or profile is used",
		Unset: "the SDK's credential chain", Reads: []string{Deploy, AWSCreate}, Platform: AWS,
	}
	AWSSecretAccessKey = Var{
		Name: "AWS_SECRET_ACCESS_KEY", Usage: "its secret", Secret: true,
		Unset: "the SDK's credential chain", Reads: []string{Deploy, AWSCreate}, Platform: AWS,
	}
	AWSSessionToken = Var{
		Name: "AWS_SESSION_TOKEN", Usage: "session token of temporary keys", Secret: true,
		Unset: "long-lived keys", Reads: []string{Deploy, AWSCreate}, Platform: AWS,
	}
	CircleOIDCToken = Var{
		Name: "CIRCLE_OIDC_TOKEN_V2", Usage: "CircleCI's OIDC token, in jobs with a context", Secret: true,
		Unset: "no web identity", Reads: []string{Deploy, AWSCreate}, Platform: AWS,
	}
	AWSEndpointURL = Var{
		Name: "AWS_ENDPOINT_URL", Usage: "AWS API endpoint: an emulator instead of AWS",
		Unset: "AWS's endpoints (AWS_ENDPOINT_URL_ECS and the like also work)",
		Reads: []string{Deploy, AWSCreate}, Check: secretEndpoint, Platform: AWS,
	}
	ECSServiceName = Var{
		Name: "ECS_SERVICE_NAME", Usage: "the ECS Express service", Context: "aws",
		Reads: []string{Deploy, AWSCreate}, Needs: []string{Deploy, AWSCreate}, Check: ecsName, Platform: AWS,
	}
	ECSCluster = Var{
		Name: "ECS_CLUSTER", Default: "default", Usage: "the ECS cluster of the service", Context: "aws",
		Reads: []string{Deploy, AWSCreate}, Check: ecsName, Platform: AWS,
	}
	ECRRepository = Var{
		Name: "ECR_REPOSITORY", Usage: "ECR repository the image is copied to", Context: "aws",
		Unset: "IMAGE_NAME", Reads: []string{Deploy, AWSCreate}, Check: repositoryPath, Platform: AWS,
	}
	ECSExecutionRole = Var{
		Name: "ECS_EXECUTION_ROLE", Default: "ecsTaskExecutionRole", Usage: "IAM role that pulls the image and writes logs",
		Context: "aws", Reads: []string{Deploy, AWSCreate}, Check: roleName, Platform: AWS,
	}
	ECSInfrastructureRole = Var{
		Name: "ECS_INFRASTRUCTURE_ROLE", Default: "ecsInfrastructureRoleForExpressServices",
		Usage: "IAM role ECS manages the load balancer with", Context: "aws",
		Reads: []string{Deploy, AWSCreate}, Check: roleName, Platform: AWS,
	}

	SentryDSN = Var{
		Name: "SENTRY_DSN", Usage: "the Sentry project's DSN, passed on to the site",
		Secret: true, Unset: "error reporting off", Reads: []string{RunLocal, HerokuCreate, Deploy}, Check: sentryDSN,
	}
	SentryEnvironment = Var{
		Name: "SENTRY_ENVIRONMENT", Default: "production", Usage: "Sentry environment of the site and of its deploys",
		Reads: []string{RunLocal, HerokuCreate, Deploy},
	}
	SentryAuthToken = Var{
		Name: "SENTRY_AUTH_TOKEN", Usage: "Sentry token with the project:releases scope",
		Secret: true, Context: "sentry", Unset: "no release tracking", Reads: []string{Deploy},
	}
	SentryOrg = Var{
		Name: "SENTRY_ORG", Usage: "Sentry organisation slug", Context: "sentry",
		Unset: "no release tracking", Reads: []string{Deploy},
	}
	SentryProject = Var{
		Name: "SENTRY_PROJECT", Usage: "Sentry project slug", Context: "sentry",
		Unset: "no release tracking", Reads: []string{Deploy},
	}
	SentryURL = Var{
		Name: "SENTRY_URL", Default: "https://sentry.io/", Usage: "Sentry web API",
		Reads: []string{Deploy}, Check: secretEndpoint,
	}

	Port = Var{
		Name: "PORT", Default: "8000", Usage: "port the site is served on",
		Reads: []string{Run, RunLocal}, Check: port,
	}
	TestResultsDir = Var{
		Name: "TEST_RESULTS_DIR", Usage: "where junit.xml and coverage.out go",
		Unset: "a temporary directory", Reads: []string{Test},
	}
	CircleCISchema = Var{
		Name: "CIRCLECI_SCHEMA", Usage: "a local copy of CircleCI's config schema",
		Unset: "the pinned schema, downloaded once and cached", Reads: []string{Lint},
	}
)

// All lists every variable, in the order README.md documents them.
var All = []Var{
	DockerHubUser, DockerHubPass, DockerRegistry, ImageName,
	HerokuAPIKey, HerokuAppName, HerokuAPIURL, HerokuRegistry, DeployPlatform, HealthURL,
	AWSRegion, AWSRoleARN, AWSAccessKeyID, AWSSecretAccessKey, AWSSessionToken, CircleOIDCToken, AWSEndpointURL,
	ECSServiceName, ECSCluster, ECRRepository, ECSExecutionRole, ECSInfrastructureRole,
	SentryDSN, SentryEnvironment, SentryAuthToken, SentryOrg, SentryProject, SentryURL,
	Port, TestResultsDir, CircleCISchema,
}

// Env looks up an environment variable. os.LookupEnv is one; tests use Map.
type Env func(name string) (string, bool)

// Value returns name's value, trimmed: a blank value counts as unset.
func (env Env) Value(name string) string {
	val, _ := env(name)
	return strings.TrimSpace(val)
}

// OS is the process environment.
var OS Env = os.LookupEnv

// Map is an environment held in a map, for tests.
func Map(m map[string]string) Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Values are the variables a target reads, as the environment sets them.
type Values map[string]string

// Get returns v's value, or its default when it is unset (Load keeps no blank value).
func (vals Values) Get(v Var) string { return cmp.Or(vals[v.Name], v.Default) }

// IsSet reports whether the environment gives v a value.
func (vals Values) IsSet(v Var) bool { return vals[v.Name] != "" }

// SiteSentry returns the Sentry settings a new app is given: SENTRY_DSN
// with SENTRY_ENVIRONMENT (its default too) when the DSN is set, else
// SENTRY_ENVIRONMENT alone when set, else none.
func (vals Values) SiteSentry() map[string]string {
	vars := map[string]string{}
	if vals.IsSet(SentryDSN) {
		vars[SentryDSN.Name] = vals.Get(SentryDSN)
	}
	if vals.IsSet(SentryDSN) || vals.IsSet(SentryEnvironment) {
		vars[SentryEnvironment.Name] = vals.Get(SentryEnvironment)
	}
	return vars
}

// Load reads from env the variables target reads, blank counting as unset,
// and checks them before any slow work: each needed variable unset and each
// invalid value is reported at once, by name, in an *Error.
func Load(env Env, target string) (Values, error) {
	vals := Values{}
	var problems []string
	for _, v := range All {
		switch raw := env.Value(v.Name); {
		case !v.ReadBy(target, env): // not read: left out
		case raw == "" && slices.Contains(v.Needs, target):
			problems = append(problems, fmt.Sprintf("%s is not set: %s", v.Name, v.Usage))
		case raw == "":
		case v.Check != nil && v.Check(raw) != nil:
			problems = append(problems, v.Name+" "+v.Check(raw).Error())
		default:
			vals[v.Name] = raw
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Target: target, Problems: problems}
	}
	return vals, nil
}

// ReadBy reports whether target reads v when run in env: deploy reads a
// platform's variables only when DEPLOY_PLATFORM names that platform.
func (v Var) ReadBy(target string, env Env) bool {
	platform := cmp.Or(env.Value(DeployPlatform.Name), DeployPlatform.Default)
	return slices.Contains(v.Reads, target) && (target != Deploy || v.Platform == "" || v.Platform == platform)
}

// Error lists what is wrong with the variables a target reads.
type Error struct {
	Target   string
	Problems []string // one sentence each, starting with the variable's name
}

func (e *Error) Error() string {
	return e.Target + " cannot start:\n  " + strings.Join(e.Problems, "\n  ") + "\nfix the environment and try again"
}

// Secrets returns the values env gives to secret variables, for masking.
func Secrets(env Env) []string {
	var out []string
	for _, v := range All {
		if val, _ := env(v.Name); v.Secret && strings.TrimSpace(val) != "" {
			out = append(out, val, strings.TrimSpace(val))
		}
	}
	return out
}
