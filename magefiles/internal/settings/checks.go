package settings

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// What valid values look like. The image name parts follow the OCI
// distribution spec; Heroku's app names follow its Platform API schema.
var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE          = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$`)
	herokuAppRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`)
)

func pathComponent(s string) error {
	if !pathComponentRE.MatchString(s) {
		return fmt.Errorf("%q cannot be part of an image name: use lowercase letters, digits and . _ - between them", s)
	}
	return nil
}

func repositoryPath(s string) error {
	for _, part := range strings.Split(s, "/") {
		if !pathComponentRE.MatchString(part) {
			return fmt.Errorf("%q is not an image repository name: use lowercase letters, digits and . _ - between them, parts separated by /", s)
		}
	}
	return nil
}

func registryHost(s string) error {
	if !hostRE.MatchString(s) {
		return fmt.Errorf("%q is not a registry host: give host or host:port, such as ghcr.io or 127.0.0.1:5000, without https://", s)
	}
	return nil
}

func herokuAppName(s string) error {
	if !herokuAppRE.MatchString(s) {
		return fmt.Errorf("%q is not a Heroku app name: 3 to 30 lowercase letters, digits and dashes, starting with a letter", s)
	}
	return nil
}

// secretEndpoint checks the base URL of an API the pipeline sends a secret
// to: HTTPS only (plain HTTP to loopback, which is what tests use), and no
// credentials, query or fragment: the secret has a variable of its own.
func secretEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q is not a URL such as https://api.example.com", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment: the credentials have a variable of their own")
	case u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())):
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
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User == nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return errors.New("is not a DSN such as https://<key>@o1.ingest.sentry.io/<project>: copy it from the Sentry project's Client Keys")
	}
	return nil
}

func port(s string) error {
	if n, err := strconv.Atoi(s); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not a port number: set it to a number between 1 and 65535, such as 8000", s)
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Hints for credentials a service refused: one wording each, wherever the
// refusal is reported.
const (
	DockerHubRefused = "check DOCKERHUB_USERNAME and DOCKERHUB_PASS (an access token works as the password) and DOCKER_REGISTRY"
	HerokuRefused    = "check HEROKU_API_KEY, or create a new key with heroku authorizations:create"
	SentryRefused    = "check SENTRY_AUTH_TOKEN: it needs the project:releases scope"
)
