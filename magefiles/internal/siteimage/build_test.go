package siteimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// maxImageSize is the limit.
const maxImageSize = 15_000_000

// secrets are set in the environment while the tests build, to prove that
// none of them reaches the image.
var secrets = map[string]string{
	"DOCKERHUB_PASS":    "dockerhub-pass-3f9a1c77e2",
	"HEROKU_API_KEY":    "heroku-key-8b21d0aa4e",
	"SENTRY_AUTH_TOKEN": "sentry-token-c0ffee1234",
	"SENTRY_DSN":        "https://dsn-5ecre7@o1.ingest.sentry.io/42",
}

// TestMain sets secrets in the environment of the whole test binary, so
// that every build, benchmark or test, runs with them: set per test with
// t.Setenv, they would keep the tests that build from running in parallel.
func TestMain(m *testing.M) {
	for k, v := range secrets {
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// fixture is a repository copy and a Builder for it.
type fixture struct {
	dir  string
	raw  *client.Client
	b    *Builder
	out  *strings.Builder // what the build showed
	info gitinfo.Info
}

func newFixture(t testing.TB, repo string) *fixture {
	t.Helper()
	raw := testenv.Docker(t)
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	f := &fixture{dir: imagetest.Repo(t), raw: raw, out: &strings.Builder{}}
	r := &runner.Runner{Out: f.out}
	f.b = &Builder{Engine: eng, Runner: r, Dir: f.dir, Repository: repo}
	f.readGit(t)
	return f
}

func (f *fixture) readGit(t testing.TB) {
	t.Helper()
	info, err := gitinfo.Read(context.Background(), f.b.Runner, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.info = info
	testenv.RemoveWhenDone(t, f.raw, NamesFor(f.b.Repository, info).Tags()...)
}

func (f *fixture) build(t testing.TB) Result {
	t.Helper()
	res, err := f.b.Build(context.Background(), f.info)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, f.out.String())
	}
	return res
}

func TestBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testenv.Unique(t, "oc-lettings-test-"))
	ctx := context.Background()
	res := f.build(t)
	img := res.Image

	t.Run("the image", func(t *testing.T) {
		if res.UpToDate || res.Names.Commit != f.b.Repository+":"+f.info.Commit {
			t.Errorf("result %+v", res)
		}
		if img.Size <= 0 || img.Size >= maxImageSize {
			t.Errorf("size %d bytes, want under %d", img.Size, maxImageSize)
		}
		if img.Platform() != "linux/amd64" {
			t.Errorf("platform %s", img.Platform())
		}
		inspected, err := f.raw.ImageInspect(ctx, img.ID)
		if err != nil {
			t.Fatal(err)
		}
		c := inspected.Config
		user, group, _ := strings.Cut(c.User, ":")
		if uid, err := strconv.Atoi(user); err != nil || uid == 0 {
			t.Errorf("user %q, want a numeric non-root user", c.User)
		}
		if gid, err := strconv.Atoi(group); err != nil || gid == 0 {
			t.Errorf("user %q, want a numeric non-root group", c.User)
		}
		if strings.Join(c.Entrypoint, " ") != "/oc-lettings" || len(c.Cmd) != 0 {
			t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
		}
		if _, ok := c.ExposedPorts["8000/tcp"]; !ok || len(c.ExposedPorts) != 1 {
			t.Errorf("exposed ports %v", c.ExposedPorts)
		}
		want := map[string]string{
			"org.opencontainers.image.title":    "OC Lettings",
			"org.opencontainers.image.revision": f.info.Commit,
			"org.opencontainers.image.version":  f.info.Version,
			"org.opencontainers.image.created":  f.info.Time.Format(time.RFC3339),
			"org.opencontainers.image.source":   "https://github.com/oc-lettings/oc-lettings", // the copy has no origin: the Dockerfile's default
		}
		for k, v := range want {
			if img.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, img.Labels[k], v)
			}
		}
		if !strings.HasPrefix(img.Labels[FingerprintLabel], "sha256:") {
			t.Errorf("no fingerprint label: %v", img.Labels)
		}
		if latest, _, _ := f.b.Engine.Image(ctx, res.Names.Latest); latest.ID != img.ID {
			t.Errorf("latest is %q, want %s", latest.ID, img.ID)
		}
		if f.out.Len() != 0 {
			t.Errorf("a quiet build showed:\n%s", f.out.String())
		}
	})

	t.Run("no secret in the image", func(t *testing.T) {
		saved := save(t, f.raw, res.Names.Commit)
		for name, value := range secrets {
			if bytes.Contains(saved, []byte(value)) {
				t.Errorf("the saved image (layers, config, history) contains the value of %s", name)
			}
		}
		if !bytes.Contains(saved, []byte(f.info.Commit)) {
			t.Error("the saved image does not even contain the commit: the scan proves nothing")
		}
	})

	t.Run("a second build does nothing", func(t *testing.T) {
		binary := filepath.Join(f.dir, "bin", "image", binaryName)
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		if err := os.Chtimes(binary, old, old); err != nil {
			t.Fatal(err)
		}
		again := f.build(t)
		if !again.UpToDate || again.Image.ID != img.ID {
			t.Errorf("second build %+v, want up to date with %s", again, img.ID)
		}
		if info, err := os.Stat(binary); err != nil || !info.ModTime().Equal(old) {
			t.Errorf("the binary was compiled again (%v)", err)
		}
	})

	t.Run("latest comes back", func(t *testing.T) {
		if _, err := f.raw.ImageRemove(ctx, res.Names.Latest, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		again := f.build(t)
		if latest, _, _ := f.b.Engine.Image(ctx, res.Names.Latest); !again.UpToDate || latest.ID != img.ID {
			t.Errorf("up to date %v, latest %q, want %s", again.UpToDate, latest.ID, img.ID)
		}
	})

	t.Run("runLocal without a user runs the work tree's image", func(t *testing.T) {
		var out strings.Builder
		ref, err := f.b.ToRun(ctx, false, Credentials{}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if ref != res.Names.Commit {
			t.Errorf("ToRun = %q, want %q", ref, res.Names.Commit)
		}
		if !strings.HasPrefix(out.String(), "up to date: "+res.Names.Commit) {
			t.Errorf("ToRun showed %q, want the build's line", out.String())
		}
	})

	t.Run("a dirty work tree", func(t *testing.T) {
		main := filepath.Join(f.dir, "app", "main.go")
		src, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(main, append(src, "\nvar _ = \"changed\"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		f.readGit(t)
		dirty := f.build(t)
		if dirty.UpToDate || dirty.Names.Commit != f.b.Repository+":"+f.info.Commit+"-dirty" || dirty.Names.Latest != "" {
			t.Errorf("dirty build %+v", dirty)
		}
		if dirty.Image.Labels["org.opencontainers.image.version"] != f.info.Version || !strings.HasSuffix(f.info.Version, "-dirty") {
			t.Errorf("version label %q", dirty.Image.Labels["org.opencontainers.image.version"])
		}
		if latest, _, _ := f.b.Engine.Image(ctx, res.Names.Latest); latest.ID != img.ID {
			t.Errorf("a dirty build moved latest to %q", latest.ID)
		}
		if _, err := f.b.Push(ctx, dirty, Credentials{}, nil); !errors.Is(err, ErrDirty) {
			t.Errorf("pushing a dirty build: %v, want ErrDirty", err)
		}

		// Edit and build again: the tag moves, and the image it named goes.
		if err := os.WriteFile(main, append(src, "\nvar _ = \"changed again\"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		again := f.build(t)
		if again.UpToDate || again.Image.ID == dirty.Image.ID || again.Names.Commit != dirty.Names.Commit {
			t.Fatalf("second dirty build %+v", again)
		}
		if _, found, _ := f.b.Engine.Image(ctx, dirty.Image.ID); found {
			t.Error("the image the dirty tag named before is still there, unnamed")
		}
		if _, found, _ := f.b.Engine.Image(ctx, img.ID); !found {
			t.Error("the committed image went too")
		}
	})
}

func TestBuildShowsTheEngineLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testenv.Unique(t, "oc-lettings-test-"))
	f.b.Runner.Verbose = true
	f.build(t)
	for _, want := range []string{"Step 1/", "COPY oc-lettings /oc-lettings", "Successfully tagged " + f.b.Repository + ":" + f.info.Commit} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("verbose output lacks %q:\n%s", want, f.out.String())
		}
	}
	t.Run("and replays it on failure", func(t *testing.T) {
		f.b.Runner.Verbose = false
		f.out.Reset()
		dockerfile := filepath.Join(f.dir, "Dockerfile")
		src, err := os.ReadFile(dockerfile)
		if err != nil {
			t.Fatal(err)
		}
		broken := strings.Replace(string(src), "USER 65532:65532", "USER 65532:65532\nRUN true", 1)
		if err := os.WriteFile(dockerfile, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		f.readGit(t)
		_, err = f.b.Build(context.Background(), f.info)
		removeIntermediates(t, f.raw, f.out.String())
		if err == nil || !strings.Contains(err.Error(), "could not build the image") {
			t.Fatalf("error %v, want the engine's build failure", err)
		}
		if !strings.Contains(f.out.String(), "Step 1/") {
			t.Errorf("the log was not shown on failure:\n%s", f.out.String())
		}
	})
}

// removeIntermediates removes, when the test ends, the images the steps of
// a failed build left behind (the " ---> <id>" lines of its log), newest
// first. Images that something else uses stay.
func removeIntermediates(t *testing.T, raw *client.Client, log string) {
	ids := regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`).FindAllStringSubmatch(log, -1)
	t.Cleanup(func() {
		for i := len(ids) - 1; i >= 0; i-- {
			_, _ = raw.ImageRemove(context.Background(), ids[i][1], client.ImageRemoveOptions{})
		}
	})
}

// save returns the docker save archive of ref with every layer inside it
// unpacked, so that a search sees every file of every layer, the config and
// the history.
func save(t *testing.T, raw *client.Client, ref string) []byte {
	t.Helper()
	rc, err := raw.ImageSave(context.Background(), []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var all bytes.Buffer
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return all.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(hdr.Name + "\n")
		all.Write(data)
		if strings.HasSuffix(hdr.Name, ".tar") { // a layer: its files too, by name and content
			lr := tar.NewReader(bytes.NewReader(data))
			for {
				lh, err := lr.Next()
				if err != nil {
					break
				}
				all.WriteString(lh.Name + "\n")
				_, _ = io.Copy(&all, lr)
			}
		}
	}
}
