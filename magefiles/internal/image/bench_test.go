package image

// Benchmarks of the image pipeline against the real engine and registry:
//
//	go test -run '^$' -bench . -benchtime 5x ./magefiles/internal/image/
//
// Goals: a no-op rebuild under 1 s, a rebuild after a one-line change under
// 10 s, container start to first 200 under 300 ms.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// benchFixture is a repository copy with a Builder, where each edit changes
// one line of Go and so the binary.
type benchFixture struct {
	*fixture
	edits int
}

func newBenchFixture(b *testing.B, where Where) *benchFixture {
	b.Helper()
	raw := testenv.Docker(b)
	eng, err := docker.Connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Close() })
	out := &strings.Builder{}
	f := &benchFixture{fixture: &fixture{dir: imagetest.Repo(b), raw: raw, out: out}}
	f.b = &Builder{Engine: eng, Runner: &runner.Runner{Out: out}, Dir: f.dir, Where: where, Out: out}
	return f
}

// edit changes one line of the site's Go code (a string the binary keeps)
// and commits it when commit is set.
func (f *benchFixture) edit(b *testing.B, commit bool) {
	b.Helper()
	f.edits++
	src := fmt.Sprintf("package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"OC_LETTINGS_BENCH_EDIT\") == \"edit %d\" {\n\t\tprintln()\n\t}\n}\n", f.edits)
	if err := os.WriteFile(filepath.Join(f.dir, "app", "zz_bench_edit.go"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	if commit {
		imagetest.Git(b, f.dir, "add", "-A")
		imagetest.Git(b, f.dir, "commit", "-q", "-m", "bench edit")
	}
}

// build reads git and builds, registering the tags for removal.
func (f *benchFixture) build(b *testing.B) Result {
	b.Helper()
	info, err := gitinfo.Read(context.Background(), f.b.Runner, f.dir)
	if err != nil {
		b.Fatal(err)
	}
	f.info = info
	imagetest.RemoveWhenDone(b, f.raw, f.b.Where.NamesFor(info).Tags()...)
	res, err := f.b.Build(context.Background(), info)
	if err != nil {
		b.Fatalf("build: %v\n%s", err, f.out.String())
	}
	return res
}

func reportImage(b *testing.B, res Result) {
	b.ReportMetric(float64(res.Image.Size)/1e6, "MB-image")
}

// BenchmarkBuildCold builds in a fresh checkout with an empty Go build
// cache: everything, the standard library included, is compiled.
func BenchmarkBuildCold(b *testing.B) {
	f := newBenchFixture(b, Where{Registry: "docker.io", Name: imagetest.Unique(b, "oc-lettings-bench-")})
	var res Result
	for b.Loop() {
		b.StopTimer()
		b.Setenv("GOCACHE", b.TempDir())
		f.edit(b, true)
		b.StartTimer()
		res = f.build(b)
	}
	reportImage(b, res)
}

// BenchmarkBuildOneLineChange is the edit-build loop: one line of Go
// changed, then mage build (Go's build cache and the engine's layers warm).
func BenchmarkBuildOneLineChange(b *testing.B) {
	f := newBenchFixture(b, Where{Registry: "docker.io", Name: imagetest.Unique(b, "oc-lettings-bench-")})
	f.edit(b, false)
	f.build(b) // warm up
	var res Result
	for b.Loop() {
		b.StopTimer()
		f.edit(b, false)
		b.StartTimer()
		res = f.build(b)
		if res.UpToDate {
			b.Fatal("an edited tree was up to date")
		}
	}
	reportImage(b, res)
}

// BenchmarkBuildNoop is mage build when nothing changed.
func BenchmarkBuildNoop(b *testing.B) {
	f := newBenchFixture(b, Where{Registry: "docker.io", Name: imagetest.Unique(b, "oc-lettings-bench-")})
	f.build(b)
	for b.Loop() {
		if res := f.build(b); !res.UpToDate {
			b.Fatal("an unchanged tree was built again")
		}
	}
}

// BenchmarkMageBuildNoop is the same through the command line, go tool
// mage build, as a user sees it (the mage binary already compiled).
func BenchmarkMageBuildNoop(b *testing.B) {
	testenv.Docker(b)
	dir := imagetest.Repo(b)
	env := map[string]string{"IMAGE_NAME": imagetest.Unique(b, "oc-lettings-bench-")}
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		b.Fatal(err)
	}
	imagetest.RemoveWhenDone(b, testenv.Docker(b), Where{Name: env["IMAGE_NAME"]}.NamesFor(info).Tags()...)
	if out, code := imagetest.Mage(b, dir, env, "build"); code != 0 {
		b.Fatal(out)
	}
	for b.Loop() {
		if out, code := imagetest.Mage(b, dir, env, "build"); code != 0 || !strings.HasPrefix(out, "up to date") {
			b.Fatalf("exit %d: %s", code, out)
		}
	}
}

// BenchmarkPush pushes a new image (one changed layer) to the local
// registry.
func BenchmarkPush(b *testing.B) {
	reg := testenv.StartRegistry(b)
	f := newBenchFixture(b, Where{Registry: reg.Host, User: reg.User, Name: imagetest.Unique(b, "oc-lettings-bench-")})
	auth := docker.Auth{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host}
	var uploaded int
	for b.Loop() {
		b.StopTimer()
		f.edit(b, true)
		res := f.build(b)
		b.StartTimer()
		pushed, err := f.b.Push(context.Background(), res, auth, nil)
		if err != nil {
			b.Fatal(err)
		}
		uploaded = pushed.Pushed[0].Uploaded
	}
	b.ReportMetric(float64(uploaded), "layers-uploaded")
}

// BenchmarkPushUnchanged pushes an image the registry already has.
func BenchmarkPushUnchanged(b *testing.B) {
	reg := testenv.StartRegistry(b)
	f := newBenchFixture(b, Where{Registry: reg.Host, User: reg.User, Name: imagetest.Unique(b, "oc-lettings-bench-")})
	auth := docker.Auth{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host}
	res := f.build(b)
	if _, err := f.b.Push(context.Background(), res, auth, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pushed, err := f.b.Push(context.Background(), res, auth, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range pushed.Pushed {
			if p.Uploaded != 0 {
				b.Fatalf("uploaded %d layers", p.Uploaded)
			}
		}
	}
}

// BenchmarkStartToFirst200 measures from the container's start to the first
// 200 answer to GET / on its published port.
func BenchmarkStartToFirst200(b *testing.B) {
	f := newBenchFixture(b, Where{Registry: "docker.io", Name: imagetest.Unique(b, "oc-lettings-bench-")})
	res := f.build(b)
	eng := f.b.Engine
	ctx := context.Background()
	client := &http.Client{Timeout: time.Second}
	for b.Loop() {
		b.StopTimer()
		port := freeLoopbackPort(b)
		id, err := eng.CreateContainer(ctx, docker.ContainerSpec{
			Name: imagetest.Unique(b, "oc-lettings-bench-"), Image: res.Names.Commit,
			Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port,
		})
		if err != nil {
			b.Fatal(err)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		b.StartTimer()
		if err := eng.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		for !answers200(ctx, client, url) {
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		if err := eng.RemoveContainer(ctx, id, time.Second); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func answers200(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freeLoopbackPort(b *testing.B) int {
	b.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
