// Package testenv gives integration tests the real components they need: a
// Docker engine, and a registry with password authentication, started on a
// free loopback port for the test.
//
// On a laptop without them, a test skips with a message that says what is
// missing and how to get it. When the CI variable is set, a missing component
// fails the test instead: CI must never pass by skipping.
package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// InCI reports whether the tests run in CI, where every component must exist.
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips the test, or fails it in CI, because component is unavailable.
// hint says how to make it available.
func Missing(t testing.TB, component string, err error, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s unavailable (%v); %s", component, err, hint)
	if InCI() {
		t.Fatalf("%s; CI is set, so this is a failure, not a skip", msg)
	}
	t.Skip(msg)
}

// Docker returns a client for the engine that DOCKER_HOST (or the default
// socket) points at, or skips the test when no engine answers.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	hint := "start dockerd (sudo .ci/start-dockerd) or Docker Desktop"
	c, err := client.New(client.FromEnv)
	if err != nil {
		Missing(t, "Docker engine", err, hint)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		Missing(t, "Docker engine", err, hint)
	}
	return c
}
