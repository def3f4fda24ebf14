package config

import (
	"strings"
	"testing"
)

// env returns a getenv function backed by a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}
	want := Config{
		Port:                   8000,
		SentryDSN:              "",
		SentryEnvironment:      "development",
		SentryTracesSampleRate: 0,
		SentryDebugRoute:       false,
		SecureSSLRedirect:      true,
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"port", map[string]string{"PORT": "5000"}, func(c *Config) { c.Port = 5000 }},
		{"highest port", map[string]string{"PORT": "65535"}, func(c *Config) { c.Port = 65535 }},
		{
			"dsn",
			map[string]string{"SENTRY_DSN": "https://key@o1.ingest.sentry.io/2"},
			func(c *Config) { c.SentryDSN = "https://key@o1.ingest.sentry.io/2" },
		},
		{
			"environment",
			map[string]string{"SENTRY_ENVIRONMENT": "production"},
			func(c *Config) { c.SentryEnvironment = "production" },
		},
		{
			"sample rate",
			map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "0.25"},
			func(c *Config) { c.SentryTracesSampleRate = 0.25 },
		},
		{
			"sample rate one",
			map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "1"},
			func(c *Config) { c.SentryTracesSampleRate = 1 },
		},
		{
			"debug route on",
			map[string]string{"SENTRY_DEBUG_ROUTE": "true"},
			func(c *Config) { c.SentryDebugRoute = true },
		},
		{"debug route off", map[string]string{"SENTRY_DEBUG_ROUTE": "false"}, func(c *Config) {}},
		{
			"ssl redirect off",
			map[string]string{"SECURE_SSL_REDIRECT": "false"},
			func(c *Config) { c.SecureSSLRedirect = false },
		},
		{
			"ssl redirect 0",
			map[string]string{"SECURE_SSL_REDIRECT": "0"},
			func(c *Config) { c.SecureSSLRedirect = false },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := Load(env(nil))
			if err != nil {
				t.Fatal(err)
			}
			tt.want(&want)
			got, err := Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load(%v): %v", tt.env, err)
			}
			if got != want {
				t.Errorf("Load(%v) = %+v, want %+v", tt.env, got, want)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"port not a number", "PORT", "http"},
		{"port zero", "PORT", "0"},
		{"port too high", "PORT", "65536"},
		{"port negative", "PORT", "-1"},
		{"sample rate not a number", "SENTRY_TRACES_SAMPLE_RATE", "half"},
		{"sample rate above one", "SENTRY_TRACES_SAMPLE_RATE", "1.5"},
		{"sample rate negative", "SENTRY_TRACES_SAMPLE_RATE", "-0.1"},
		{"sample rate NaN", "SENTRY_TRACES_SAMPLE_RATE", "NaN"},
		{"sample rate infinite", "SENTRY_TRACES_SAMPLE_RATE", "Inf"},
		{"debug route", "SENTRY_DEBUG_ROUTE", "yes"},
		{"ssl redirect", "SECURE_SSL_REDIRECT", "on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.variable: tt.value}))
			if err == nil {
				t.Fatalf("Load(%s=%q) succeeded, want an error", tt.variable, tt.value)
			}
			if !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q does not name %s and its value %q", err, tt.variable, tt.value)
			}
		})
	}
}

func TestLoadInvalidSentryDSN(t *testing.T) {
	for _, dsn := range []string{
		"not-a-dsn",
		"ftp://secretkey@o1.ingest.sentry.io/2",
		"https://o1.ingest.sentry.io/2",
		"https://secretkey@o1.ingest.sentry.io/",
		"https://secretkey@:443/2",
		"https://secretkey@o1.ingest.sentry.io:port/2",
		"https://secret\x7fkey@o1.ingest.sentry.io/2",
	} {
		_, err := Load(env(map[string]string{"SENTRY_DSN": dsn}))
		if err == nil {
			t.Errorf("Load(SENTRY_DSN=%q) succeeded, want an error", dsn)
			continue
		}
		if !strings.Contains(err.Error(), "SENTRY_DSN") {
			t.Errorf("error %q does not name SENTRY_DSN", err)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), dsn) {
			t.Errorf("error %q shows the DSN, which holds a key", err)
		}
	}
}

func TestLoadReportsEveryInvalidVariable(t *testing.T) {
	tests := []map[string]string{
		{"PORT": "x", "SECURE_SSL_REDIRECT": "maybe"},
		{"PORT": "x", "SENTRY_DSN": "bad"},
	}
	for _, vars := range tests {
		_, err := Load(env(vars))
		if err == nil {
			t.Fatalf("Load(%v) succeeded, want an error", vars)
		}
		for name := range vars {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		}
	}
}
