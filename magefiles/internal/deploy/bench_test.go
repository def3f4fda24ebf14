package deploy_test

// Benchmarks of the deploy against the local fakes, with the site's image
// already in the source registry (the Docker Hub stand-in):
//
//	go test -run '^$' -bench . -benchtime 5x ./magefiles/internal/deploy/
//
// "deploy" is the whole of mage deploy: preflight, copy, release, follow
// and health check. "transfer" is the image's way to Heroku's registry
// alone: by copy, as deploy does now, and through a Docker engine (pull,
// tag, push), as deploy did before, so that the two compare in one run.
// "first" goes to an empty target registry, "again" to one that already
// has the image. Each reports the blob bytes the target received.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func BenchmarkDeploy(b *testing.B) {
	hub := testenv.StartRegistry(b)
	src := registry.Image{Ref: hub.Host + "/" + hub.User + "/oc-lettings:" + newCommit, User: hub.User, Password: hub.Password}
	hub.Put(b, src.Ref, imagetest.Site(b, newVersion, newCommit))
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok","version":"`+newVersion+`","commit":"`+newCommit+`"}`)
	}))
	b.Cleanup(site.Close)

	// Each function moves the image to a target once; run measures it,
	// with a fresh empty target before each round for "first".
	run := func(again bool, move func(*testing.B, *target)) func(*testing.B) {
		return func(b *testing.B) {
			t := newTarget(b, site.URL)
			if again {
				move(b, t)
				t.sent.Store(0)
			}
			var sent int64
			for b.Loop() {
				if !again {
					b.StopTimer()
					t = newTarget(b, site.URL)
					b.StartTimer()
				}
				move(b, t)
				sent += t.sent.Swap(0)
			}
			b.ReportMetric(float64(sent)/float64(b.N), "blob-bytes/op")
		}
	}
	deployTo := func(b *testing.B, t *target) { t.deploy(b, src) }
	copyTo := func(b *testing.B, t *target) {
		if _, err := registry.Copy(context.Background(), src, t.image(), true); err != nil {
			b.Fatal(err)
		}
	}
	raw := testenv.Docker(b)
	testenv.RemoveWhenDone(b, raw, src.Ref) // the engine path's last pull
	eng, err := docker.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Close() })
	engineTo := func(b *testing.B, t *target) {
		b.StopTimer() // a CI job's fresh engine has no image
		_, _ = raw.ImageRemove(context.Background(), src.Ref, client.ImageRemoveOptions{PruneChildren: true})
		b.StartTimer()
		ctx := context.Background()
		if err := eng.Pull(ctx, src, io.Discard); err != nil {
			b.Fatal(err)
		}
		if err := eng.Tag(ctx, src.Ref, t.image().Ref); err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Push(ctx, t.image(), io.Discard); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_, _ = raw.ImageRemove(ctx, t.image().Ref, client.ImageRemoveOptions{})
		b.StartTimer()
	}
	for _, again := range []bool{false, true} {
		name := map[bool]string{false: "first", true: "again"}[again]
		b.Run("deploy/"+name, run(again, deployTo))
		b.Run("transfer/copy/"+name, run(again, copyTo))
		b.Run("transfer/engine/"+name, run(again, engineTo))
	}
}

// target is an empty Heroku registry behind a proxy that counts the blob
// bytes it receives, and the fake Platform API of an app that runs nothing.
type target struct {
	host string // the proxy's
	sent *atomic.Int64
	api  *herokutest.Server
}

func newTarget(b *testing.B, siteURL string) *target {
	b.Helper()
	reg := testenv.StartRegistry(b, testenv.WithUser("_", apiKey))
	t := &target{api: herokutest.NewServer(apiKey)}
	b.Cleanup(t.api.Close)
	t.api.SetImages(herokutest.Registry{Host: reg.Host, User: "_", Password: apiKey})
	t.api.AddApp(herokutest.App{Name: app, WebURL: siteURL + "/"})
	t.host, t.sent = testenv.CountUploads(b, reg.Host)
	return t
}

func (t *target) image() registry.Image {
	return registry.Image{Ref: t.host + "/" + app + "/web:latest", User: "_", Password: apiKey}
}

func (t *target) deploy(b *testing.B, src registry.Image) {
	b.Helper()
	client, err := heroku.New(heroku.Config{APIURL: t.api.URL, APIKey: apiKey})
	if err != nil {
		b.Fatal(err)
	}
	p := &heroku.Platform{Client: client, App: app, Registry: t.host, APIKey: apiKey, Out: io.Discard, PollInterval: time.Millisecond}
	cfg := deploy.Config{Commit: newCommit, Version: newVersion, Source: src, Out: io.Discard, PollInterval: time.Millisecond}
	if _, err := deploy.Run(context.Background(), p, cfg); err != nil {
		b.Fatal(err)
	}
}
