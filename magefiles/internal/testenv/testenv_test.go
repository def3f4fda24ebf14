package testenv

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

func TestRegistryRequiresItsPassword(t *testing.T) {
	r := StartRegistry(t)
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{r.User, r.Password, http.StatusOK},
		{r.User, "wrong", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/", nil)
		req.SetBasicAuth(tc.user, tc.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("password %q: status %d, want %d", tc.pass, resp.StatusCode, tc.want)
		}
	}
	if _, err := r.Manifest(context.Background(), "nobody/none", "latest"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Manifest of a missing image: %v, want a 404 error", err)
	}
}

func TestRegistryWithAnotherUser(t *testing.T) {
	r := StartRegistry(t, WithUser("_", "api-key-1"))
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{r.User, r.Password, http.StatusOK},
		{"_", "api-key-1", http.StatusOK},
		{"_", r.Password, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/", nil)
		req.SetBasicAuth(tc.user, tc.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("user %q password %q: status %d, want %d", tc.user, tc.pass, resp.StatusCode, tc.want)
		}
	}
}

func TestDockerAnswersPing(t *testing.T) {
	c := Docker(t)
	if _, err := c.ServerVersion(context.Background(), client.ServerVersionOptions{}); err != nil {
		t.Fatalf("engine answered ping but not version: %v", err)
	}
}
