package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func TestConnectToNoEngineFailsFast(t *testing.T) {
	for _, host := range []string{
		"tcp://127.0.0.1:1",                           // a closed port
		"unix:///nonexistent/oc-lettings/docker.sock", // a socket that is not there
	} {
		t.Run(host, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", host)
			start := time.Now()
			e, err := Connect(context.Background())
			took := time.Since(start)
			if err == nil {
				_ = e.Close()
				t.Fatal("Connect succeeded")
			}
			var unreachable *UnreachableError
			if !errors.As(err, &unreachable) {
				t.Errorf("error %T %v, want an *UnreachableError", err, err)
			}
			msg := err.Error()
			for _, want := range []string{"cannot reach the Docker engine at " + host, "DOCKER_HOST", "start"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if took > ConnectTimeout+time.Second {
				t.Errorf("took %s, want within %s", took, ConnectTimeout)
			}
		})
	}
}

func TestConnectWithBadSettings(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:2376")
	t.Setenv("DOCKER_CERT_PATH", t.TempDir()) // no ca.pem, cert.pem, key.pem there
	_, err := Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "DOCKER_CERT_PATH") {
		t.Fatalf("error %v, want one naming DOCKER_CERT_PATH", err)
	}
}

// connect returns an Engine for the test's real engine, or skips.
func connect(t *testing.T) (*Engine, *client.Client) {
	t.Helper()
	raw := testenv.Docker(t)
	e, err := Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, raw
}

func TestVersion(t *testing.T) {
	e, _ := connect(t)
	v, err := e.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Engine == "" || v.APIVersion == "" || v.OS == "" || v.Arch == "" {
		t.Errorf("Version = %+v, want every field", v)
	}
	if !e.IsLocal() && !strings.HasPrefix(e.Host(), "tcp://") {
		t.Errorf("host %q", e.Host())
	}
}

// buildTiny builds a one-layer scratch image with unique content, tagged
// ref, and removes the tag when the test ends.
func buildTiny(t *testing.T, e *Engine, raw *client.Client, ref string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /hello\n", "hello": "hello " + testenv.Unique(t, "") + "\n"}
	for _, name := range []string{"Dockerfile", "hello"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	img, err := e.Build(context.Background(), BuildOptions{Context: &buf, Tags: []string{ref}, Log: &log})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	testenv.RemoveWhenDone(t, raw, ref)
	if len(img.Tags) != 1 || img.Tags[0] != ref || img.Platform() != "linux/amd64" {
		t.Errorf("built %+v, want %s for linux/amd64", img, ref)
	}
	return img.ID
}

func TestBuildFailureIsReported(t *testing.T) {
	e, _ := connect(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := "FROM scratch\nCOPY missing-file /x\n"
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	_, _ = tw.Write([]byte(df))
	_ = tw.Close()
	var log strings.Builder
	_, err := e.Build(context.Background(), BuildOptions{Context: &buf, Log: &log})
	if err == nil || !strings.Contains(err.Error(), "could not build the image") || !strings.Contains(err.Error(), "missing-file") {
		t.Errorf("error %v, want the failed step", err)
	}
	if !strings.Contains(log.String(), "Step 2/2 : COPY missing-file /x") {
		t.Errorf("log %q lacks the steps", log.String())
	}
}

func TestPushPullAgainstARealRegistry(t *testing.T) {
	e, raw := connect(t)
	reg := testenv.StartRegistry(t)
	ctx := context.Background()
	repo := registry.Repository(reg.Host, reg.User, testenv.Unique(t, "tiny-"))
	ref := repo + ":v1"
	id := buildTiny(t, e, raw, ref)
	img := registry.Image{Ref: ref, User: reg.User, Password: reg.Password}

	var progress strings.Builder
	first, err := e.Push(ctx, img, &progress)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, progress.String())
	}
	if first.Uploaded != 1 || first.Layers != 1 || !strings.HasPrefix(first.Digest, "sha256:") {
		t.Errorf("first push %+v, want the one layer uploaded and a digest", first)
	}
	for _, want := range []string{"The push refers to repository [" + repo + "]", ": Pushed", "v1: digest: " + first.Digest} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	m, err := reg.Manifest(ctx, strings.TrimPrefix(repo, reg.Host+"/"), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || m.Config.Digest != id {
		t.Errorf("manifest %+v, want Docker v2 schema 2 with config %s", m, id)
	}

	again, err := e.Push(ctx, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Uploaded != 0 || again.Digest != first.Digest {
		t.Errorf("second push %+v, want nothing uploaded, same digest", again)
	}

	// Pull it back under a new name after dropping the local one.
	if _, err := raw.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := e.Image(ctx, ref); found {
		t.Fatal("the tag is still there")
	}
	if err := e.Pull(ctx, img, nil); err != nil {
		t.Fatalf("pull: %v", err)
	}
	pulled, found, err := e.Image(ctx, ref)
	if err != nil || !found || pulled.ID != id {
		t.Errorf("pulled %q (found %v, %v), want %s", pulled.ID, found, err, id)
	}

	// Tag gives another name to the same image.
	other := repo + ":v2"
	if err := e.Tag(ctx, ref, other); err != nil {
		t.Fatal(err)
	}
	testenv.RemoveWhenDone(t, raw, other)
	if tagged, _, _ := e.Image(ctx, other); tagged.ID != id {
		t.Errorf("tagged image %q, want %s", tagged.ID, id)
	}
	var nf *registry.NotFoundError
	if err := e.Tag(ctx, repo+":nope", other); !errors.As(err, &nf) {
		t.Errorf("tagging a missing image: %v, want a *NotFoundError", err)
	}

	// Pulling what the registry does not have.
	err = e.Pull(ctx, registry.Image{Ref: repo + ":missing", User: reg.User, Password: reg.Password}, nil)
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), repo+":missing") {
		t.Errorf("pulling a missing tag: %v, want a *NotFoundError naming it", err)
	}
}

func TestPushWithAWrongPassword(t *testing.T) {
	e, raw := connect(t)
	reg := testenv.StartRegistry(t)
	ref := registry.Repository(reg.Host, reg.User, testenv.Unique(t, "tiny-")) + ":v1"
	buildTiny(t, e, raw, ref)
	wrong := "not-" + reg.Password

	var progress strings.Builder
	_, err := e.Push(context.Background(), registry.Image{Ref: ref, User: reg.User, Password: wrong}, &progress)
	var authErr *registry.AuthError
	if !errors.As(err, &authErr) {
		t.Fatalf("error %T %v, want an *AuthError", err, err)
	}
	if want := "the registry " + reg.Host + " refused the credentials for user " + reg.User; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	for _, secret := range []string{wrong, reg.Password} {
		if strings.Contains(progress.String(), secret) || strings.Contains(err.Error(), secret) || strings.Contains(authErr.Err.Error(), secret) {
			t.Errorf("a password shows in the output:\n%s\n%v", progress.String(), authErr.Err)
		}
	}
	if strings.Contains(reg.Log(), "PUT /v2/") {
		t.Error("the registry stored something for a refused push")
	}
}

func TestPushWithoutCredentials(t *testing.T) {
	e, raw := connect(t)
	reg := testenv.StartRegistry(t)
	ref := registry.Repository(reg.Host, reg.User, testenv.Unique(t, "tiny-")) + ":v1"
	buildTiny(t, e, raw, ref)
	_, err := e.Push(context.Background(), registry.Image{Ref: ref, User: reg.User}, nil)
	if want := "the registry " + reg.Host + " refused access without credentials"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestPushStoppedByTheContext(t *testing.T) {
	e, _ := connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C
	_, err := e.Push(ctx, registry.Image{Ref: "127.0.0.1:1/ci/site:1", User: "ci", Password: "pw"}, nil)
	if err == nil || err.Error() != "stopped: context canceled" || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want the context's cause alone", err)
	}
}
