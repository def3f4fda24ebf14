package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A Registry is a real container registry (CNCF Distribution, Debian's
// docker-registry package) serving plain HTTP on a loopback port, with one
// user allowed by htpasswd. The Docker engine treats loopback registries as
// insecure by default, so no TLS set-up is needed.
type Registry struct {
	Host     string // host:port, e.g. 127.0.0.1:40123
	User     string
	Password string

	log *Buffer
}

// A RegistryOption changes the registry StartRegistry starts.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	users [][2]string // more user, password pairs
}

// WithUser lets user log in with password too, besides the registry's own
// user. Heroku's registry, for one, takes the user "_" with the API key as
// the password.
func WithUser(user, password string) RegistryOption {
	return func(o *registryOptions) { o.users = append(o.users, [2]string{user, password}) }
}

// StartRegistry starts a registry for the duration of the test, or skips the
// test when no registry binary is installed.
func StartRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	bin, err := registryBinary()
	if err != nil {
		Missing(t, "container registry", err, "install Debian's docker-registry package (apt-get install docker-registry)")
	}
	var o registryOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	r := &Registry{User: "ci-user", Password: Unique(t, "pw-"), log: &Buffer{}}
	var htpasswd strings.Builder
	for _, u := range append([][2]string{{r.User, r.Password}}, o.users...) {
		// bcrypt's minimum cost keeps every authenticated request fast.
		hash, err := bcrypt.GenerateFromPassword([]byte(u[1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd.WriteString(u[0] + ":" + string(hash) + "\n")
	}
	writeFile(t, filepath.Join(dir, "htpasswd"), htpasswd.String())

	for attempt := 1; ; attempt++ {
		r.Host = FreeAddr(t)
		config := filepath.Join(dir, "config.yml")
		writeFile(t, config, registryConfig(r.Host, dir, Unique(t, "secret-")))
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "serve", config)
		cmd.Stdout, cmd.Stderr = r.log, r.log
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { cancel(); <-exited }
		if err := r.waitReady(exited); err == nil {
			t.Cleanup(stop)
			return r
		} else if attempt == 3 { // the port may have been taken meanwhile: try another
			stop()
			t.Fatalf("registry did not start: %v\n%s", err, r.log.String())
		}
		stop()
	}
}

// Log returns what the registry has logged so far, one request per line.
func (r *Registry) Log() string { return r.log.String() }

// Manifest is the part of an image manifest the tests look at.
type Manifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"layers"`
}

// Manifest fetches the manifest of repo:reference, accepting only the Docker
// v2 schema 2 format (the format Heroku requires).
func (r *Registry) Manifest(ctx context.Context, repo, reference string) (Manifest, error) {
	var m Manifest
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, reference), nil)
	if err != nil {
		return m, err
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("registry answered %s for %s:%s", resp.Status, repo, reference)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func (r *Registry) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("registry exited")
		default:
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+r.Host+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			return fmt.Errorf("unexpected %s from /v2/ without credentials", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timed out waiting for /v2/")
}

func registryBinary() (string, error) {
	for _, name := range []string{"docker-registry", "registry"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("neither docker-registry nor registry is in PATH")
}

func registryConfig(addr, dir, secret string) string {
	return strings.Join([]string{
		"version: 0.1",
		"log:",
		"  level: info",
		"  accesslog:",
		"    disabled: false",
		"storage:",
		"  filesystem:",
		"    rootdirectory: " + filepath.Join(dir, "data"),
		"  delete:",
		"    enabled: true",
		"http:",
		"  addr: " + addr,
		"  secret: " + secret,
		"auth:",
		"  htpasswd:",
		"    realm: test-registry",
		"    path: " + filepath.Join(dir, "htpasswd"),
		"",
	}, "\n")
}

// FreeAddr returns a loopback address, host:port, with a port that was free
// a moment ago, for a server a test is about to start.
func FreeAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// CountUploads puts a proxy in front of the registry at host, and returns
// the proxy's host:port and the count of blob bytes uploaded through it.
func CountUploads(t testing.TB, host string) (string, *atomic.Int64) {
	t.Helper()
	sent := &atomic.Int64{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") {
			r.Body = countingBody{r.Body, sent}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), sent
}

// countingBody counts the bytes read through it.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
