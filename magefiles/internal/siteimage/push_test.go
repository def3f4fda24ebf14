package siteimage

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// blobUploads counts the layer and config uploads the registry has logged.
func blobUploads(reg *testenv.Registry) int {
	return len(regexp.MustCompile(`"POST /v2/[^"]*/blobs/uploads/`).FindAllString(reg.Log(), -1))
}

func TestPush(t *testing.T) {
	t.Parallel()
	reg := testenv.StartRegistry(t)
	f := newFixture(t, registry.Repository(reg.Host, reg.User, testenv.Unique(t, "oc-lettings-test-")))
	ctx := context.Background()
	creds := Credentials{User: reg.User, Password: reg.Password}
	built := f.build(t)

	var progress strings.Builder
	res, err := f.b.Push(ctx, built, creds, &progress)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, progress.String())
	}
	if len(res.Pushed) != 2 || res.Pushed[0].Uploaded < 1 || res.Pushed[0].Uploaded != res.Pushed[0].Layers || res.Pushed[1].Uploaded != 0 {
		t.Errorf("pushed %+v, want every layer uploaded for the commit tag and none again for latest", res.Pushed)
	}
	if res.Pushed[0].Digest == "" || res.Pushed[1].Digest != res.Pushed[0].Digest {
		t.Errorf("digests %q and %q, want the same manifest under both tags", res.Pushed[0].Digest, res.Pushed[1].Digest)
	}
	repo := strings.TrimPrefix(f.b.Repository, reg.Host+"/")
	for _, tag := range []string{f.info.Commit, "latest"} {
		m, err := reg.Manifest(ctx, repo, tag)
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || m.Config.Digest != built.Image.ID {
			t.Errorf("%s: manifest %+v, want Docker v2 schema 2 with config %s", tag, m, built.Image.ID)
		}
	}
	if strings.Contains(progress.String(), reg.Password) {
		t.Error("the password shows in the progress")
	}
	if want := "pushed " + built.Names.Commit + " and " + built.Names.Latest + " to the registry " + reg.Host; !strings.HasPrefix(res.String(), want) || res.Warning != "" {
		t.Errorf("summary %q, want it to start with %q", res, want)
	}

	t.Run("again uploads nothing", func(t *testing.T) {
		before := blobUploads(reg)
		if before == 0 {
			t.Fatalf("the registry log shows no upload of the first push: counting proves nothing\n%s", reg.Log())
		}
		again, err := f.b.Push(ctx, f.build(t), creds, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range again.Pushed {
			if p.Uploaded != 0 {
				t.Errorf("pushed %+v, want nothing uploaded", p)
			}
		}
		if after := blobUploads(reg); after != before {
			t.Errorf("the registry saw %d new uploads", after-before)
		}
	})

	t.Run("pulled back, the same image", func(t *testing.T) {
		for _, ref := range built.Names.Tags() {
			if _, err := f.raw.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				t.Fatal(err)
			}
		}
		for _, ref := range built.Names.Tags() {
			if err := f.b.Engine.Pull(ctx, creds.image(ref), nil); err != nil {
				t.Fatal(err)
			}
			if img, _, _ := f.b.Engine.Image(ctx, ref); img.ID != built.Image.ID {
				t.Errorf("%s pulled back as %s, want %s", ref, img.ID, built.Image.ID)
			}
		}
	})

	t.Run("a wrong password", func(t *testing.T) {
		wrong := "wrong-" + reg.Password
		var progress strings.Builder
		_, err := f.b.Push(ctx, built, Credentials{User: reg.User, Password: wrong}, &progress)
		want := "the registry " + reg.Host + " refused the credentials for user " + reg.User + ": " + settings.DockerHubRefused
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
		var authErr *registry.AuthError
		if !errors.As(err, &authErr) {
			t.Errorf("%T is not an *AuthError", err)
		}
		for _, secret := range []string{wrong, reg.Password} {
			if strings.Contains(progress.String()+err.Error(), secret) {
				t.Error("a password shows")
			}
		}
	})

	t.Run("runLocal with a user pulls latest", func(t *testing.T) {
		for _, ref := range built.Names.Tags() {
			if _, err := f.raw.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				t.Fatal(err)
			}
		}
		var progress strings.Builder
		ref, err := f.b.ToRun(ctx, true, creds, &progress)
		if err != nil {
			t.Fatalf("ToRun: %v\n%s", err, progress.String())
		}
		if ref != built.Names.Latest {
			t.Errorf("ToRun = %q, want %q", ref, built.Names.Latest)
		}
		if img, _, _ := f.b.Engine.Image(ctx, ref); img.ID != built.Image.ID {
			t.Errorf("%s pulled as %q, want %s", ref, img.ID, built.Image.ID)
		}
		if strings.Contains(progress.String(), reg.Password) {
			t.Error("the password shows in the progress")
		}

		unpublished := *f.b
		unpublished.Repository = registry.Repository(reg.Host, reg.User, testenv.Unique(t, "oc-lettings-test-"))
		_, err = unpublished.ToRun(ctx, true, creds, io.Discard)
		var notFound *registry.NotFoundError
		if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "publish it with mage push, or unset DOCKERHUB_USERNAME") {
			t.Errorf("an image never pushed: %v, want a *docker.NotFoundError that says what to do", err)
		}
	})
}
