package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
)

func TestRepository(t *testing.T) {
	tests := []struct {
		registry, user, name, want string
	}{
		{"docker.io", "alice", "oc-lettings", "alice/oc-lettings"},
		{"index.docker.io", "alice", "oc-lettings", "alice/oc-lettings"},
		{"https://index.docker.io/v1/", "alice", "oc-lettings", "alice/oc-lettings"},
		{"", "alice", "oc-lettings", "alice/oc-lettings"},
		{"ghcr.io", "alice", "oc-lettings", "ghcr.io/alice/oc-lettings"},
		{"127.0.0.1:5000", "ci-user", "site", "127.0.0.1:5000/ci-user/site"},
		{"docker.io", "", "oc-lettings", "oc-lettings"},
		{"ghcr.io", "", "oc-lettings", "oc-lettings"},
	}
	for _, tt := range tests {
		if got := Repository(tt.registry, tt.user, tt.name); got != tt.want {
			t.Errorf("Repository(%q, %q, %q) = %q, want %q", tt.registry, tt.user, tt.name, got, tt.want)
		}
	}
}

func TestHerokuRepository(t *testing.T) {
	for registry, want := range map[string]string{
		"registry.heroku.com":         "registry.heroku.com/my-app/web",
		"https://registry.heroku.com": "registry.heroku.com/my-app/web",
		"127.0.0.1:5000":              "127.0.0.1:5000/my-app/web",
	} {
		if got := HerokuRepository(registry, "my-app"); got != want {
			t.Errorf("HerokuRepository(%q) = %q, want %q", registry, got, want)
		}
	}
}

func TestRegistryOf(t *testing.T) {
	for ref, want := range map[string]string{
		"alice/oc-lettings:latest":           "docker.io",
		"oc-lettings:abc":                    "docker.io",
		"ghcr.io/alice/oc-lettings:latest":   "ghcr.io",
		"127.0.0.1:5000/alice/oc-lettings:1": "127.0.0.1:5000",
		"localhost/alice/x:1":                "localhost",
		"registry.heroku.com/app/web":        "registry.heroku.com",
	} {
		if got := registryOf(ref); got != want {
			t.Errorf("registryOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestAuthHeader(t *testing.T) {
	tests := []struct {
		auth        Auth
		wantAddress string // "" means anonymous: an empty configuration
	}{
		{Auth{Username: "alice", Password: "s3cret", ServerAddress: "docker.io"}, "https://index.docker.io/v1/"},
		{Auth{Username: "alice", Password: "s3cret", ServerAddress: ""}, "https://index.docker.io/v1/"},
		{Auth{Username: "_", Password: "key", ServerAddress: "registry.heroku.com"}, "registry.heroku.com"},
		{Auth{Username: "u", Password: "p", ServerAddress: "https://127.0.0.1:5000/"}, "127.0.0.1:5000"},
		{Auth{Username: "alice", ServerAddress: "docker.io"}, ""}, // a user without a password is anonymous
	}
	for _, tt := range tests {
		h, err := tt.auth.header()
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(h, "+/") {
			t.Errorf("header %q is not base64url", h)
		}
		got, err := authconfig.Decode(h)
		if err != nil {
			t.Fatal(err)
		}
		if tt.wantAddress == "" {
			if *got != (registry.AuthConfig{}) {
				t.Errorf("%+v: header decodes to %+v, want an empty configuration", tt.auth, got)
			}
			continue
		}
		if got.Username != tt.auth.Username || got.Password != tt.auth.Password || got.ServerAddress != tt.wantAddress {
			t.Errorf("%+v decodes to %+v, want server address %q", tt.auth, got, tt.wantAddress)
		}
	}
}

func TestReadStream(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		wantMsgs []string // statuses or stream text handled, in order
		wantErr  string   // "" means success
		wantCode int
	}{
		{
			name:     "success",
			stream:   `{"status":"Preparing","id":"a"}` + "\n" + `{"status":"Pushed","id":"a"}` + "\n",
			wantMsgs: []string{"Preparing", "Pushed"},
		},
		{
			name: "error detail, read to the end",
			stream: `{"status":"Preparing","id":"a"}` + "\n" +
				`{"errorDetail":{"code":401,"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}` + "\n" +
				`{"status":"after"}` + "\n",
			wantMsgs: []string{"Preparing", "after"},
			wantErr:  "unauthorized: authentication required",
			wantCode: 401,
		},
		{
			name:     "legacy error string only",
			stream:   `{"error":"denied: requested access to the resource is denied"}`,
			wantErr:  "denied: requested access to the resource is denied",
			wantMsgs: nil,
		},
		{
			name:     "first error wins",
			stream:   `{"error":"first"}{"error":"second"}`,
			wantErr:  "first",
			wantMsgs: nil,
		},
		{
			name:     "broken off",
			stream:   `{"stream":"Step 1/2"}{"stream":`,
			wantMsgs: []string{"Step 1/2"},
			wantErr:  "the Docker engine's answer broke off",
		},
		{
			name:   "empty",
			stream: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			body := &closeRecorder{Reader: strings.NewReader(tt.stream)}
			err := readStream(context.Background(), body, func(m jsonstream.Message) {
				got = append(got, m.Status+m.Stream)
			})
			if !body.closed {
				t.Error("body not closed")
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantMsgs) {
				t.Errorf("handled %q, want %q", got, tt.wantMsgs)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			var se *StreamError
			if tt.wantCode != 0 && (!errors.As(err, &se) || se.Code != tt.wantCode) {
				t.Errorf("error %#v, want a *StreamError with code %d", err, tt.wantCode)
			}
		})
	}
}

func TestReadStreamStopsWithTheContext(t *testing.T) {
	pr, pw := io.Pipe()
	defer func() { _ = pw.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- readStream(ctx, pr, nil) }()
	go func() { _, _ = pw.Write([]byte(`{"status":"Waiting","id":"a"}`)) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readStream did not return when its context ended")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestRegistryError(t *testing.T) {
	auth := Auth{Username: "alice", Password: "pa55word", ServerAddress: "docker.io"}
	tests := []struct {
		name string
		err  error
		auth Auth
		want string // the whole message
		as   any    // a pointer to the error type it must be
	}{
		{
			name: "docker hub denied",
			err:  &StreamError{Message: "denied: requested access to the resource is denied"},
			auth: auth,
			want: "Docker Hub refused the credentials for user alice",
			as:   new(*AuthError),
		},
		{
			name: "registry unauthorized",
			err:  &StreamError{Message: "unauthorized: authentication required", Code: http.StatusUnauthorized},
			auth: Auth{Username: "ci", Password: "pw", ServerAddress: "127.0.0.1:5000"},
			want: "the registry 127.0.0.1:5000 refused the credentials for user ci",
			as:   new(*AuthError),
		},
		{
			name: "anonymous",
			err:  &StreamError{Message: "unauthorized: authentication required"},
			auth: Auth{Username: "alice", ServerAddress: "docker.io"},
			want: "Docker Hub refused access without credentials",
			as:   new(*AuthError),
		},
		{
			name: "manifest unknown",
			err:  &StreamError{Message: "manifest for alice/oc-lettings:latest not found: manifest unknown: manifest unknown"},
			auth: auth,
			want: "there is no image alice/oc-lettings:latest",
			as:   new(*NotFoundError),
		},
		{
			name: "docker hub private or missing",
			err:  errors.New("pull access denied for alice/oc-lettings, repository does not exist or may require 'docker login'"),
			auth: auth,
			want: "there is no image alice/oc-lettings:latest",
			as:   new(*NotFoundError),
		},
		{
			name: "not in the engine",
			err:  errors.New("An image does not exist locally with the tag: alice/oc-lettings"),
			auth: auth,
			want: "there is no image alice/oc-lettings:latest",
			as:   new(*NotFoundError),
		},
		{
			name: "anything else keeps the engine's words",
			err:  &StreamError{Message: "received unexpected HTTP status: 500 Internal Server Error"},
			auth: auth,
			want: "pulling alice/oc-lettings:latest (Docker Hub): received unexpected HTTP status: 500 Internal Server Error",
		},
		{
			name: "the password is masked",
			err:  &StreamError{Message: "proxy said: bad request for pa55word"},
			auth: auth,
			want: "pulling alice/oc-lettings:latest (Docker Hub): proxy said: bad request for ********",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := registryError("pulling", "alice/oc-lettings:latest", tt.auth, tt.err)
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

func TestProgressPlainWritesStateChangesOnly(t *testing.T) {
	var b strings.Builder
	p := NewProgress(&b, false)
	for _, m := range []jsonstream.Message{
		{Status: "The push refers to repository [127.0.0.1:5000/a/b]"},
		{ID: "aaa", Status: "Preparing"},
		{ID: "bbb", Status: "Preparing"},
		{ID: "aaa", Status: "Pushing", Progress: &jsonstream.Progress{Current: 10, Total: 100}},
		{ID: "aaa", Status: "Pushing", Progress: &jsonstream.Progress{Current: 50, Total: 100}},
		{ID: "aaa", Status: "Pushing", Progress: &jsonstream.Progress{Current: 100, Total: 100}},
		{ID: "bbb", Status: "Layer already exists"},
		{ID: "aaa", Status: "Pushed"},
		{Status: "latest: digest: sha256:0123 size: 528"},
		{},          // aux only
		{ID: "aaa"}, // no status: nothing to show
	} {
		p.Update(m)
	}
	want := strings.Join([]string{
		"The push refers to repository [127.0.0.1:5000/a/b]",
		"aaa: Preparing",
		"bbb: Preparing",
		"aaa: Pushing",
		"bbb: Layer already exists",
		"aaa: Pushed",
		"latest: digest: sha256:0123 size: 528",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestProgressTerminalRedrawsInPlace(t *testing.T) {
	var b strings.Builder
	p := NewProgress(&b, true)
	p.Update(jsonstream.Message{ID: "aaa", Status: "Preparing"})
	p.Update(jsonstream.Message{ID: "bbb", Status: "Preparing"})
	b.Reset()
	p.Update(jsonstream.Message{ID: "aaa", Status: "Pushing", Progress: &jsonstream.Progress{Current: 5_000_000, Total: 10_000_000}})
	got := b.String()
	if !strings.HasPrefix(got, "\x1b[2A") {
		t.Errorf("redraw %q does not start by moving up over the two layer lines", got)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "aaa: Pushing") || !strings.Contains(lines[1], "bbb: Preparing") {
		t.Fatalf("redraw %q, want the two layers in their first order", got)
	}
	if !strings.Contains(lines[0], "[===========>            ] 5MB/10MB") {
		t.Errorf("line %q has no half-full bar with sizes", lines[0])
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

func TestParsePlatform(t *testing.T) {
	for in, ok := range map[string]bool{"linux/amd64": true, "linux/arm64/v8": true, "linux": false, "/amd64": false, "a/b/c/d": false} {
		p, err := parsePlatform(in)
		if (err == nil) != ok {
			t.Errorf("parsePlatform(%q) = %+v, %v", in, p, err)
		}
	}
}
