// Package config reads the site's settings from the environment.
//
// Every setting has a default suitable for local development, so the site
// starts with an empty environment. An invalid value is an error that names
// the variable, so a bad deploy fails at start-up rather than at the first
// request.
package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/getsentry/sentry-go"
)

// Names of the environment variables read by Load.
const (
	EnvPort                   = "PORT"
	EnvSentryDSN              = "SENTRY_DSN"
	EnvSentryEnvironment      = "SENTRY_ENVIRONMENT"
	EnvSentryTracesSampleRate = "SENTRY_TRACES_SAMPLE_RATE"
	EnvSentryDebugRoute       = "SENTRY_DEBUG_ROUTE"
	EnvSecureSSLRedirect      = "SECURE_SSL_REDIRECT"
)

// Defaults used when a variable is unset or empty.
const (
	DefaultPort              = 8000
	DefaultSentryEnvironment = "development"
)

// Config is the site's configuration.
type Config struct {
	// Port is the TCP port to listen on, on all interfaces (PORT).
	Port int
	// SentryDSN is the Sentry project's DSN; empty disables Sentry (SENTRY_DSN).
	SentryDSN string
	// SentryEnvironment is the environment reported to Sentry (SENTRY_ENVIRONMENT).
	SentryEnvironment string
	// SentryTracesSampleRate is the fraction of requests traced, from 0 to 1
	// (SENTRY_TRACES_SAMPLE_RATE).
	SentryTracesSampleRate float64
	// SentryDebugRoute enables /sentry-debug/, which fails on purpose so the
	// Sentry set-up can be checked (SENTRY_DEBUG_ROUTE).
	SentryDebugRoute bool
	// SecureSSLRedirect redirects plain-HTTP requests to HTTPS and sends HSTS,
	// as decided from the X-Forwarded-Proto header set by Heroku's router
	// (SECURE_SSL_REDIRECT).
	SecureSSLRedirect bool
}

// Load reads the configuration with getenv, usually os.Getenv.
// The error names every invalid variable.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Port:              DefaultPort,
		SentryDSN:         getenv(EnvSentryDSN),
		SentryEnvironment: DefaultSentryEnvironment,
		SecureSSLRedirect: true,
	}
	if v := getenv(EnvSentryEnvironment); v != "" {
		c.SentryEnvironment = v
	}

	var errs []error
	if v := getenv(EnvPort); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			errs = append(errs, invalid(EnvPort, v, "a TCP port number from 1 to 65535"))
		}
		c.Port = port
	}
	if c.SentryDSN != "" {
		if _, err := sentry.NewDsn(c.SentryDSN); err != nil {
			// The DSN holds the project's key: it is not repeated.
			errs = append(errs, invalidSecret(EnvSentryDSN,
				"a Sentry DSN such as https://<key>@o<org>.ingest.sentry.io/<project>"))
		}
	}
	if v := getenv(EnvSentryTracesSampleRate); v != "" {
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(rate) || rate < 0 || rate > 1 {
			errs = append(errs, invalid(EnvSentryTracesSampleRate, v, "a number from 0 to 1"))
		}
		c.SentryTracesSampleRate = rate
	}
	if v := getenv(EnvSentryDebugRoute); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, invalid(EnvSentryDebugRoute, v, `"true" or "false"`))
		}
		c.SentryDebugRoute = b
	}
	if v := getenv(EnvSecureSSLRedirect); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, invalid(EnvSecureSSLRedirect, v, `"true" or "false"`))
		}
		c.SecureSSLRedirect = b
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// invalid describes a variable whose value is not what it should be.
func invalid(name, value, want string) error {
	return fmt.Errorf("invalid %s=%q: want %s", name, value, want)
}

// invalidSecret is invalid for a variable whose value must not be shown.
func invalidSecret(name, want string) error {
	return fmt.Errorf("invalid %s (value not shown): want %s", name, want)
}
