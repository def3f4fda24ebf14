package runlocal

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// BenchmarkStartToFirst200 measures, against the real engine, the time from
// starting the site's container to its first 200 answer to GET / on the
// published port (goal: under 300 ms):
//
//	go test -run '^$' -bench StartToFirst200 -benchtime 10x ./magefiles/internal/runlocal/
func BenchmarkStartToFirst200(b *testing.B) {
	s := buildSite(b, testenv.Unique(b, "oc-lettings-bench-"))
	ctx := context.Background()
	client := &http.Client{Timeout: time.Second}
	answers := func(url string) bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for b.Loop() {
		b.StopTimer()
		port := testenv.FreePort(b)
		id, err := s.eng.CreateContainer(ctx, docker.ContainerSpec{
			Name: testenv.Unique(b, "oc-lettings-bench-"), Image: s.res.Names.Commit,
			Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port, Labels: map[string]string{Label: "bench"},
		})
		if err != nil {
			b.Fatal(err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		b.StartTimer()
		if err := s.eng.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		for !answers(url) {
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		if err := s.eng.RemoveContainer(ctx, id, time.Second); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
