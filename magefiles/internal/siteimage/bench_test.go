package siteimage

// Benchmarks of the image pipeline against the real engine and registry:
//
//	go test -run '^$' -bench . -benchtime 5x ./magefiles/internal/siteimage/
//
// Goals: a no-op rebuild under 1 s, a rebuild after a one-line change under
// 10 s. Container start to first 200 is measured in package runlocal.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// edit changes one line of the site's Go code (a string the binary keeps),
// commits it when commit is set, and reads git again.
func (f *fixture) edit(b *testing.B, n int, commit bool) {
	b.Helper()
	src := fmt.Sprintf("package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"OC_LETTINGS_BENCH_EDIT\") == \"edit %d\" {\n\t\tprintln()\n\t}\n}\n", n)
	if err := os.WriteFile(filepath.Join(f.dir, "app", "zz_bench_edit.go"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	if commit {
		imagetest.Git(b, f.dir, "add", "-A")
		imagetest.Git(b, f.dir, "commit", "-q", "-m", "bench edit")
	}
	f.readGit(b)
}

func reportImage(b *testing.B, res Result) {
	b.ReportMetric(float64(res.Image.Size)/1e6, "MB-image")
}

// BenchmarkBuildCold builds in a fresh checkout with an empty Go build
// cache: everything, the standard library included, is compiled.
func BenchmarkBuildCold(b *testing.B) {
	f := newFixture(b, testenv.Unique(b, "oc-lettings-bench-"))
	var res Result
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		b.Setenv("GOCACHE", b.TempDir())
		f.edit(b, n, true)
		b.StartTimer()
		res = f.build(b)
	}
	reportImage(b, res)
}

// BenchmarkBuildOneLineChange is the edit-build loop: one line of Go
// changed, then mage build (Go's build cache and the engine's layers warm).
func BenchmarkBuildOneLineChange(b *testing.B) {
	f := newFixture(b, testenv.Unique(b, "oc-lettings-bench-"))
	f.edit(b, 0, false)
	f.build(b) // warm up
	var res Result
	for n := 1; b.Loop(); n++ {
		b.StopTimer()
		f.edit(b, n, false)
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
	f := newFixture(b, testenv.Unique(b, "oc-lettings-bench-"))
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
	env := map[string]string{"IMAGE_NAME": testenv.Unique(b, "oc-lettings-bench-")}
	info, err := gitinfo.Read(context.Background(), &runner.Runner{}, dir)
	if err != nil {
		b.Fatal(err)
	}
	testenv.RemoveWhenDone(b, testenv.Docker(b), NamesFor(env["IMAGE_NAME"], info).Tags()...)
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
	f := newFixture(b, registry.Repository(reg.Host, reg.User, testenv.Unique(b, "oc-lettings-bench-")))
	auth := Credentials{User: reg.User, Password: reg.Password}
	var uploaded int
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		f.edit(b, n, true)
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
	f := newFixture(b, registry.Repository(reg.Host, reg.User, testenv.Unique(b, "oc-lettings-bench-")))
	auth := Credentials{User: reg.User, Password: reg.Password}
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
