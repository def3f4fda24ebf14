package aws_test

// Benchmarks of mage deploy to AWS against the fakes, with the site's
// image already in the source registry (the Docker Hub stand-in):
//
//	go test -run '^$' -bench . -benchtime 5x ./magefiles/internal/aws/
//
// "first" is a first deploy to an account that aws:create prepared: an
// empty ECR repository, and no service, which the deploy creates; the
// fake ECS then pulls the image and runs it on the engine before it calls
// the deployment successful. "again" deploys the image the service runs.
// Each reports the blob bytes ECR received.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/aws/awstest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

func BenchmarkDeploy(b *testing.B) {
	hub := testenv.StartRegistry(b)
	src := registry.Image{Ref: hub.Host + "/" + hub.User + "/oc-lettings:" + commits[0], User: hub.User, Password: hub.Password}
	hub.Put(b, src.Ref, imagetest.Site(b, version, commits[0]))
	docker := testenv.Docker(b)

	// account is a prepared account whose ECR counts the blob bytes it receives.
	account := func(b *testing.B) *atomic.Int64 {
		ecr := awstest.StartRegistry(b)
		var sent *atomic.Int64
		ecr.Host, sent = testenv.CountUploads(b, ecr.Host)
		fake := awstest.NewServer(b, awstest.Options{Registry: *ecr, Docker: docker})
		for k, v := range fake.Env() {
			b.Setenv(k, v)
		}
		clients, err := aws.Connect(context.Background(), aws.Config{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := clients.Create(context.Background(), resources); err != nil {
			b.Fatal(err)
		}
		return sent
	}
	deployOnce := func(b *testing.B, service string) {
		clients, err := aws.Connect(context.Background(), aws.Config{})
		if err != nil {
			b.Fatal(err)
		}
		p := &aws.Platform{
			Clients: clients, Resources: resources, Service: service, Cluster: "default", Port: 8000,
			Out: &testenv.Buffer{}, PollInterval: 10 * time.Millisecond,
		}
		cfg := deploy.Config{Commit: commits[0], Version: version, Source: src, Out: p.Out, PollInterval: 10 * time.Millisecond}
		if _, err := deploy.Run(context.Background(), p, cfg); err != nil {
			b.Fatalf("%v\n%s", err, p.Out)
		}
	}

	b.Run("first", func(b *testing.B) {
		var bytes int64
		for b.Loop() {
			b.StopTimer()
			sent := account(b)
			b.StartTimer()
			deployOnce(b, "oc-web")
			bytes += sent.Load()
		}
		b.ReportMetric(float64(bytes)/float64(b.N), "blob-bytes/op")
	})
	b.Run("again", func(b *testing.B) {
		sent := account(b)
		deployOnce(b, "oc-web")
		sent.Store(0)
		for b.Loop() {
			deployOnce(b, "oc-web")
		}
		b.ReportMetric(float64(sent.Load())/float64(b.N), "blob-bytes/op")
	})
}
