package docker

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"

	reg "github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

func TestAuthHeader(t *testing.T) {
	tests := []struct {
		img         reg.Image
		wantAddress string // "" means anonymous: an empty configuration
	}{
		{reg.Image{Ref: "alice/oc-lettings:1", User: "alice", Password: "s3cret"}, "https://index.docker.io/v1/"},
		{reg.Image{Ref: "registry.heroku.com/app/web:latest", User: "_", Password: "key"}, "registry.heroku.com"},
		{reg.Image{Ref: "127.0.0.1:5000/u/site:1", User: "u", Password: "p"}, "127.0.0.1:5000"},
		{reg.Image{Ref: "alice/oc-lettings:1", User: "alice"}, ""}, // a user without a password is anonymous
	}
	for _, tt := range tests {
		h := authHeader(tt.img)
		if strings.ContainsAny(h, "+/") {
			t.Errorf("header %q is not base64url", h)
		}
		got, err := authconfig.Decode(h)
		if err != nil {
			t.Fatal(err)
		}
		if tt.wantAddress == "" {
			if *got != (registry.AuthConfig{}) {
				t.Errorf("%+v: header decodes to %+v, want an empty configuration", tt.img, got)
			}
			continue
		}
		if got.Username != tt.img.User || got.Password != tt.img.Password || got.ServerAddress != tt.wantAddress {
			t.Errorf("%+v decodes to %+v, want server address %q", tt.img, got, tt.wantAddress)
		}
	}
}

func TestRegistryError(t *testing.T) {
	alice := reg.Image{Ref: "alice/oc-lettings:latest", User: "alice", Password: "pa55word"}
	tests := []struct {
		name string
		err  error
		img  reg.Image
		want string // the whole message
		as   any    // a pointer to the error type it must be
	}{
		{
			"docker hub denied", errors.New("denied: requested access to the resource is denied"), alice,
			"Docker Hub refused the credentials for user alice", new(*reg.AuthError),
		},
		{
			"registry unauthorized", errors.New("unauthorized: authentication required"),
			reg.Image{Ref: "127.0.0.1:5000/ci/site:1", User: "ci", Password: "pw"},
			"the registry 127.0.0.1:5000 refused the credentials for user ci", new(*reg.AuthError),
		},
		{
			"anonymous", errors.New("unauthorized: authentication required"),
			reg.Image{Ref: alice.Ref, User: "alice"},
			"Docker Hub refused access without credentials", new(*reg.AuthError),
		},
		{
			"manifest unknown", errors.New("manifest for alice/oc-lettings:latest not found: manifest unknown: manifest unknown"), alice,
			"there is no image alice/oc-lettings:latest", new(*reg.NotFoundError),
		},
		{
			"docker hub private or missing", errors.New("pull access denied for alice/oc-lettings, repository does not exist or may require 'docker login'"), alice,
			"there is no image alice/oc-lettings:latest", new(*reg.NotFoundError),
		},
		{
			"anything else keeps the engine's words", errors.New("received unexpected HTTP status: 500 Internal Server Error"), alice,
			"pulling alice/oc-lettings:latest (Docker Hub): received unexpected HTTP status: 500 Internal Server Error", nil,
		},
		{
			"the password is masked", errors.New("proxy said: bad request for pa55word"), alice,
			"pulling alice/oc-lettings:latest (Docker Hub): proxy said: bad request for ********", nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := registryError("pulling", tt.img, tt.err)
			if got.Error() != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
			if tt.as != nil && !errors.As(got, tt.as) {
				t.Errorf("%T is not %T", got, tt.as)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %s", got, got, got), "pa55word") {
				t.Error("the password shows")
			}
		})
	}
}

func TestIsPortInUse(t *testing.T) {
	for msg, want := range map[string]bool{
		"driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:8000 failed: port is already allocated": true,
		"Error starting userland proxy: listen tcp4 127.0.0.1:8000: bind: address already in use":                                  true,
		"No such image: oc-lettings:latest": false,
	} {
		if got := IsPortInUse(errors.New(msg)); got != want {
			t.Errorf("IsPortInUse(%q) = %v, want %v", msg, got, want)
		}
	}
	if IsPortInUse(nil) {
		t.Error("IsPortInUse(nil)")
	}
}
