package settings

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Pattern parts: an image name's path component (OCI distribution spec), a host name's label.
const (
	component = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	label     = `[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?`
)

// What valid values look like; Heroku's app names follow its Platform API schema.
var (
	pathComponent = matching(`^`+component+`$`,
		"%q cannot be part of an image name: use lowercase letters, digits and . _ - between them")
	repositoryPath = matching(`^`+component+`(?:/`+component+`)*$`, "%q is not an image repository name: "+
		"use lowercase letters, digits and . _ - between them, parts separated by /")
	registryHost = matching(`^`+label+`(?:\.`+label+`)*(?::[0-9]{1,5})?$`, "%q is not a registry host: "+
		"give host or host:port, such as ghcr.io or 127.0.0.1:5000, without https://")
	herokuAppName = matching(`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`,
		"%q is not a Heroku app name: 3 to 30 lowercase letters, digits and dashes, starting with a letter")
	awsRegion = matching(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`, "%q is not an AWS region, such as eu-west-3 or us-east-1")
	roleARN   = matching(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,64}$`,
		"%q is not an IAM role ARN, such as arn:aws:iam::123456789012:role/oc-lettings-deploy")
	roleName = matching(`^[\w+=,.@-]{1,64}$`, "%q is not an IAM role name: up to 64 letters, digits and +=,.@_-")
	ecsName  = matching(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$`,
		"%q is not an ECS name: up to 255 letters, digits, hyphens and underscores")
)

// oneOf returns a check that accepts only the values given.
func oneOf(values ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(values, s) {
			return fmt.Errorf("%q is not one of %s", s, strings.Join(values, ", "))
		}
		return nil
	}
}

// matching returns a check that accepts what pattern matches, else formats its error.
func matching(pattern, format string) func(string) error {
	re := regexp.MustCompile(pattern)
	return func(s string) error {
		if !re.MatchString(s) {
			return fmt.Errorf(format, s)
		}
		return nil
	}
}

// secretEndpoint checks the base URL of an API the pipeline sends a secret
// to: HTTPS only (plain HTTP to loopback, which is what tests use), and no
// credentials, query or fragment: the secret has a variable of its own.
func secretEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL such as https://api.example.com", s)
	}
	loopback := u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback() // a name parses as nil: false
	switch {
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment: the credentials have a variable of their own")
	case u.Scheme != "https" && (u.Scheme != "http" || !loopback):
		return fmt.Errorf("%s: a secret is sent there, so it must be https (plain http only to localhost)", u.Redacted())
	}
	return nil
}

func webURL(s string) error {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// sentryDSN checks a DSN's shape; the message never shows the DSN, which
// holds the project's key.
func sentryDSN(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User == nil || u.Host == "" ||
		strings.Trim(u.Path, "/") == "" {
		return errors.New("is not a DSN such as https://<key>@o1.ingest.sentry.io/<project>: " +
			"copy it from the Sentry project's Client Keys")
	}
	return nil
}

func port(s string) error {
	if n, err := strconv.Atoi(s); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not a port number: set it to a number between 1 and 65535, such as 8000", s)
	}
	return nil
}

// Hints for credentials a service refused: one wording each, wherever the
// refusal is reported.
const (
	DockerHubRefused = "check DOCKERHUB_USERNAME and DOCKERHUB_PASS (an access token works as the password) " +
		"and DOCKER_REGISTRY"
	HerokuRefused = "check HEROKU_API_KEY, or create a new key with heroku authorizations:create"
	SentryRefused = "check SENTRY_AUTH_TOKEN: it needs the project:releases scope"
	AWSRefused    = "check the AWS credentials: the deploy role needs ecr:GetAuthorizationToken and the ECR push " +
		"permissions README.md lists"
)
