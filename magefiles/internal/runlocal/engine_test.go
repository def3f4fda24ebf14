package runlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/siteimage"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// built is the site's image, built in a copy of the repository.
type built struct {
	dir  string
	raw  *client.Client
	eng  *docker.Engine
	b    *siteimage.Builder
	info gitinfo.Info
	res  siteimage.Result
}

// engines returns a raw engine client and a docker.Engine of the test's own.
func engines(t testing.TB) (*client.Client, *docker.Engine) {
	t.Helper()
	raw := testenv.Docker(t)
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return raw, eng
}

// buildSite builds the site's image as repository, in a copy of the
// repository, and removes its tags when the test ends.
func buildSite(t testing.TB, repository string) *built {
	t.Helper()
	raw, eng := engines(t)
	s := &built{dir: imagetest.Repo(t), raw: raw, eng: eng}
	var out strings.Builder
	s.b = &siteimage.Builder{Engine: eng, Runner: &runner.Runner{Out: &out}, Dir: s.dir, Repository: repository}
	var err error
	if s.info, err = gitinfo.Read(context.Background(), s.b.Runner, s.dir); err != nil {
		t.Fatal(err)
	}
	testenv.RemoveWhenDone(t, raw, siteimage.NamesFor(repository, s.info).Tags()...)
	if s.res, err = s.b.Build(context.Background(), s.info); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	return s
}

// sharedImage is an image of the site for the tests that only need one to
// run, and test neither how it is built nor how it is published: built once
// per test binary, by the first of them to ask (sharedSite); TestMain
// removes its tags.
var sharedImage struct {
	once sync.Once
	tags []string
	info gitinfo.Info
	res  siteimage.Result
	err  error
}

// sharedSite returns the shared image of the site, building it if no test
// has yet, with engine clients of the test's own. Its dir and b are unset:
// the copy it was built in was the first test's.
func sharedSite(t testing.TB) *built {
	t.Helper()
	raw, eng := engines(t)
	sharedImage.once.Do(func() {
		sharedImage.err = errors.New("the test that built the shared image failed before it was done")
		repository := testenv.Unique(t, "oc-lettings-test-")
		dir := imagetest.Repo(t)
		var out strings.Builder
		b := &siteimage.Builder{Engine: eng, Runner: &runner.Runner{Out: &out}, Dir: dir, Repository: repository}
		info, err := gitinfo.Read(context.Background(), b.Runner, dir)
		if err != nil {
			sharedImage.err = err
			return
		}
		sharedImage.tags = siteimage.NamesFor(repository, info).Tags()
		res, err := b.Build(context.Background(), info)
		if err != nil {
			sharedImage.err = fmt.Errorf("build: %w\n%s", err, out.String())
			return
		}
		sharedImage.info, sharedImage.res, sharedImage.err = info, res, nil
	})
	if sharedImage.err != nil {
		t.Fatal(sharedImage.err)
	}
	return &built{raw: raw, eng: eng, info: sharedImage.info, res: sharedImage.res}
}

// TestMain removes the tags of the shared image once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if len(sharedImage.tags) > 0 {
		if raw, err := client.New(client.FromEnv); err == nil {
			for _, ref := range sharedImage.tags {
				_, _ = raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true})
			}
			_ = raw.Close()
		}
	}
	os.Exit(code)
}

// image is an Options.Image that runs ref, and counts its calls.
func image(ref string, calls *int) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { *calls++; return ref, nil }
}

// containersOf lists the containers runLocal made from image, running or
// not, by name.
func containersOf(t *testing.T, raw *client.Client, image string) []string {
	t.Helper()
	res, err := raw.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("ancestor", image).Add("label", Label),
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Items {
		names = append(names, strings.TrimPrefix(strings.Join(c.Names, ","), "/"))
	}
	return names
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestRunTheSite runs Main with the real engine in this checkout, as does
// TestMainRemovesAContainerLeftBehind, which is therefore not parallel.
func TestRunTheSite(t *testing.T) {
	t.Parallel()
	s := sharedSite(t)
	ref := s.res.Names.Commit

	t.Run("serves until interrupted, then is gone", func(t *testing.T) {
		port := testenv.FreePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var status int
		var body, health string
		var labels map[string]string
		var log testenv.Buffer
		calls := 0
		err := Main(ctx, s.eng, Options{
			Port: strconv.Itoa(port), Image: image(ref, &calls), Out: &log, Err: &log,
			ready: func(url string) {
				status, body = get(t, url)
				_, health = get(t, url+"healthz")
				if names := containersOf(t, s.raw, ref); len(names) != 1 {
					t.Errorf("containers while running: %q, want one", names)
				} else if c, err := s.raw.ContainerInspect(context.Background(), names[0], client.ContainerInspectOptions{}); err == nil {
					labels = c.Container.Config.Labels
				}
				cancel()
			},
		})
		if err != nil {
			t.Fatalf("Main: %v\n%s", err, log.String())
		}
		if status != http.StatusOK || !strings.Contains(body, "Lettings") {
			t.Errorf("GET / = %d %.200q", status, body)
		}
		if !strings.Contains(health, s.info.Commit) {
			t.Errorf("/healthz = %q, want the commit %s", health, s.info.Commit)
		}
		here, _ := checkout()
		if labels[CheckoutLabel] != here || labels[OwnerLabel] != strconv.Itoa(os.Getpid()) || labels[PortLabel] != strconv.Itoa(port) {
			t.Errorf("labels %v, want this checkout (%s), this process and port %d", labels, here, port)
		}
		if names := containersOf(t, s.raw, ref); len(names) != 0 {
			t.Errorf("containers left: %q", names)
		}
		if !strings.Contains(log.String(), `"msg":"starting"`) {
			t.Errorf("the site's log was not streamed:\n%s", log.String())
		}
	})

	t.Run("a taken port", func(t *testing.T) {
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		port := l.Addr().(*net.TCPAddr).Port
		want := fmt.Sprintf("port %d on 127.0.0.1 is already in use", port)
		// Found before the image is got, as the engine runs here...
		calls := 0
		err = Main(context.Background(), s.eng, Options{Port: strconv.Itoa(port), Image: image(ref, &calls), Out: io.Discard, Err: io.Discard})
		var inUse *PortInUseError
		if !errors.As(err, &inUse) || !strings.Contains(err.Error(), want) || calls != 0 {
			t.Errorf("error %v after %d calls for the image, want a *PortInUseError and none", err, calls)
		}
		// ...and from what the engine says, when it runs elsewhere.
		err = run(context.Background(), s.eng, docker.ContainerSpec{
			Name: testenv.Unique(t, "oc-lettings-local-"), Image: ref, Port: port,
			Labels: map[string]string{Label: "local"},
		}, Options{Out: io.Discard, Err: io.Discard})
		if !errors.As(err, &inUse) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want a *PortInUseError", err)
		}
		if names := containersOf(t, s.raw, ref); len(names) != 0 {
			t.Errorf("containers left: %q", names)
		}
	})

	t.Run("a site that cannot start", func(t *testing.T) {
		var log testenv.Buffer
		calls := 0
		err := Main(context.Background(), s.eng, Options{
			Port: strconv.Itoa(testenv.FreePort(t)), Env: []string{"SENTRY_DSN=not a DSN"}, Image: image(ref, &calls),
			Out: &log, Err: &log, healthTimeout: 20 * time.Second,
		})
		if err == nil || !strings.HasPrefix(err.Error(), "the site stopped with exit code 1 (last answer from http://127.0.0.1:") ||
			!strings.HasSuffix(err.Error(), "; its log is above") {
			t.Errorf("error %v", err)
		}
		if !strings.Contains(log.String(), "SENTRY_DSN") {
			t.Errorf("the site's own message was not shown:\n%s", log.String())
		}
		if names := containersOf(t, s.raw, ref); len(names) != 0 {
			t.Errorf("containers left: %q", names)
		}
	})

	t.Run("a missing image", func(t *testing.T) {
		calls := 0
		err := Main(context.Background(), s.eng, Options{
			Port: strconv.Itoa(testenv.FreePort(t)), Image: image(ref+"-missing", &calls), Out: io.Discard, Err: io.Discard,
		})
		var nf *registry.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("error %v, want a *registry.NotFoundError", err)
		}
	})
}

// TestMainRemovesAContainerLeftBehind leaves what a runLocal killed with
// kill -9 leaves, its container holding the port, and runs again on that
// port. Containers of other checkouts, and of a runLocal that still runs,
// must stay.
//
// It is not parallel: any other Main in this checkout running meanwhile
// (TestRunTheSite's) would remove the container it leaves, as it should,
// before this test's Main finds it.
func TestMainRemovesAContainerLeftBehind(t *testing.T) {
	s := sharedSite(t)
	ref := s.res.Names.Commit
	here, err := checkout()
	if err != nil {
		t.Fatal(err)
	}
	// leave creates a container as runLocal would, labelled with checkout
	// and pid, and starts it if asked to.
	leave := func(checkout string, pid int, start bool) (string, int) {
		t.Helper()
		ctx, port := context.Background(), testenv.FreePort(t)
		name := testenv.Unique(t, "oc-lettings-local-")
		id, err := s.eng.CreateContainer(ctx, docker.ContainerSpec{
			Name: name, Image: ref, Env: []string{"PORT=" + strconv.Itoa(port)}, Port: port,
			Labels: map[string]string{Label: "local", CheckoutLabel: checkout, OwnerLabel: strconv.Itoa(pid), PortLabel: strconv.Itoa(port)},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.eng.RemoveContainer(context.Background(), id, 0) })
		if start {
			if err := s.eng.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if _, err := healthz.Wait(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), pollInterval, healthz.Up); err != nil {
				t.Fatal(err)
			}
		}
		return name, port
	}
	leftover, port := leave(here, deadPID(t), true)
	elsewhere, _ := leave("elsewhere:/src/oc-lettings", deadPID(t), false)
	live, _ := leave(here, os.Getpid(), false)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log testenv.Buffer
	status, calls := 0, 0
	err = Main(ctx, s.eng, Options{
		Port: strconv.Itoa(port), Image: image(ref, &calls), Out: &log, Err: &log,
		ready: func(url string) { status, _ = get(t, url); cancel() },
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("Main: %v, GET / = %d\n%s", err, status, log.String())
	}
	want := fmt.Sprintf("removing container %s, left running by an earlier runLocal of this checkout (it held port %d)\n", leftover, port)
	if !strings.HasPrefix(log.String(), want) || strings.Count(log.String(), "removing container") != 1 {
		t.Errorf("output does not start with %q alone:\n%s", want, log.String())
	}
	left := strings.Join(containersOf(t, s.raw, ref), " ")
	if strings.Contains(left, leftover) || !strings.Contains(left, elsewhere) || !strings.Contains(left, live) {
		t.Errorf("containers left: %s; want %s and %s, not %s", left, elsewhere, live, leftover)
	}
}

// TestMageRunLocal runs go tool mage runLocal and run_docker.sh with
// DOCKERHUB_USERNAME set, as documented, against the test's registry, and
// stops them the ways a user or a process manager would.
func TestMageRunLocal(t *testing.T) {
	t.Parallel()
	reg := testenv.StartRegistry(t)
	name := testenv.Unique(t, "oc-lettings-test-")
	s := buildSite(t, registry.Repository(reg.Host, reg.User, name))
	creds := siteimage.Credentials{User: reg.User, Password: reg.Password}
	if _, err := s.b.Push(context.Background(), s.res, creds, nil); err != nil {
		t.Fatal(err)
	}
	latest := s.res.Names.Latest
	t.Cleanup(func() { // should a test fail with a container left behind
		for _, name := range containersOf(t, s.raw, latest) {
			_, _ = s.raw.ContainerRemove(context.Background(), name, client.ContainerRemoveOptions{Force: true})
		}
	})
	// Drop the local copy, so that runLocal must pull it.
	for _, ref := range s.res.Names.Tags() {
		if _, err := s.raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			t.Fatal(err)
		}
	}
	env := func(port int) []string {
		return imagetest.Env(map[string]string{
			"DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password, "DOCKER_REGISTRY": reg.Host,
			"IMAGE_NAME": name, "PORT": strconv.Itoa(port), "SENTRY_ENVIRONMENT": "runlocal-test",
		})
	}
	mage := []string{"go", "tool", "mage", "runLocal"}
	// gone waits for the container to go, within the 5 s mage allows.
	gone := func(t *testing.T, p *process) {
		t.Helper()
		deadline := time.Now().Add(6 * time.Second)
		for len(containersOf(t, s.raw, latest)) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if names := containersOf(t, s.raw, latest); len(names) != 0 {
			t.Errorf("containers left: %q\n%s", names, p.out.String())
		}
		if strings.Contains(p.out.String(), reg.Password) {
			t.Error("the password shows in the output")
		}
	}

	for _, tt := range []struct {
		name    string
		command []string
		signal  syscall.Signal
		group   bool // to the whole process group, as a terminal's Ctrl-C, systemd or timeout(1) do
	}{
		{"Ctrl-C", mage, syscall.SIGINT, true},
		{"a closed terminal", mage, syscall.SIGHUP, true},
		{"run_docker.sh, SIGTERM to the process group", []string{"./run_docker.sh"}, syscall.SIGTERM, true},
		{"run_docker.sh, SIGTERM to it alone", []string{"./run_docker.sh"}, syscall.SIGTERM, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			p := startProcess(t, s.dir, env(port), tt.command, port)
			names := containersOf(t, s.raw, latest)
			if len(names) != 1 {
				t.Fatalf("containers while running: %q, want one", names)
			}
			c, err := s.raw.ContainerInspect(context.Background(), names[0], client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if env := strings.Join(c.Container.Config.Env, " "); !strings.Contains(env, "SENTRY_ENVIRONMENT=runlocal-test") ||
				strings.Contains(env, "SENTRY_DSN") || !strings.Contains(env, fmt.Sprintf("PORT=%d", port)) {
				t.Errorf("the site's environment %q, want PORT and SENTRY_ENVIRONMENT passed, SENTRY_DSN (unset) not", env)
			}
			for _, b := range c.Container.HostConfig.PortBindings {
				if len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" {
					t.Errorf("port published on %v, want 127.0.0.1 only", b)
				}
			}
			p.stop(t, tt.signal, tt.group)
			gone(t, p)
		})
	}

	t.Run("after kill -9", func(t *testing.T) {
		port := testenv.FreePort(t)
		killed := startProcess(t, s.dir, env(port), mage, port)
		killed.stop(t, syscall.SIGKILL, true)
		leftover := containersOf(t, s.raw, latest)
		if len(leftover) != 1 {
			t.Fatalf("containers after kill -9: %q, want the one left behind", leftover)
		}
		p := startProcess(t, s.dir, env(port), mage, port)
		want := fmt.Sprintf("removing container %s, left running by an earlier runLocal of this checkout (it held port %d)", leftover[0], port)
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, p.out.String())
		}
		p.stop(t, syscall.SIGINT, true)
		gone(t, p)
	})
}

// process is go tool mage runLocal or run_docker.sh, running.
type process struct {
	cmd    *exec.Cmd
	out    testenv.Buffer
	exited chan error
}

// startProcess runs command in dir, in a process group of its own, and
// returns once it says that the site runs on port and the site answers.
func startProcess(t *testing.T, dir string, env, command []string, port int) *process {
	t.Helper()
	p := launch(t, dir, env, command)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(p.out.String(), "OC Lettings is running at "+url); {
		select {
		case err := <-p.exited:
			t.Fatalf("%s ended (%v) before the site ran:\n%s", command[0], err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start the site:\n%s", command[0], p.out.String())
		}
	}
	if status, _ := get(t, url); status != http.StatusOK {
		t.Errorf("GET / = %d", status)
	}
	return p
}

// launch starts command in dir, in a process group of its own that is
// killed when the test ends.
func launch(t *testing.T, dir string, env, command []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(command[0], command[1:]...), exited: make(chan error, 1)}
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
	go func() { p.exited <- p.cmd.Wait() }()
	return p
}

// stop sends sig to the process, or to its whole group, and waits until
// it has exited.
func (p *process) stop(t *testing.T, sig syscall.Signal, group bool) {
	t.Helper()
	target := p.cmd.Process.Pid
	if group {
		target = -target
	}
	if err := syscall.Kill(target, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		t.Logf("%s ended: %v", p.cmd.Path, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not stop:\n%s", p.cmd.Path, p.out.String())
	}
}

// TestMageRun runs the site natively with mage run: on a busy port it says
// what to do before it prints a URL; on a free one it shows the site's log
// and none of mage's own lines, until Ctrl-C.
func TestMageRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("compiles the magefiles and the site: skipped with -short")
	}
	dir := imagetest.Repo(t)
	busy, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	out, code := imagetest.Mage(t, dir, map[string]string{"PORT": strconv.Itoa(port)}, "run")
	if code == 0 || strings.Contains(out, "http://") || !strings.Contains(out, fmt.Sprintf("already in use: stop what listens there, or choose another port, e.g. PORT=%d", port+1)) {
		t.Errorf("mage run on a busy port: exit %d\n%s", code, out)
	}
	_ = busy.Close()

	p := launch(t, dir, imagetest.Env(map[string]string{"PORT": strconv.Itoa(port)}), []string{"go", "tool", "mage", "run"})
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(p.out.String(), `"msg":"listening"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("mage run did not start the site:\n%s", p.out.String())
		}
	}
	if status, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); status != http.StatusOK {
		t.Errorf("GET / = %d", status)
	}
	p.stop(t, syscall.SIGINT, true)
	if out := p.out.String(); !strings.Contains(out, fmt.Sprintf("on http://localhost:%d/ (Ctrl-C stops it)\n", port)) ||
		strings.Contains(out, "exec:") || !strings.Contains(out, `"msg":"stopped"`) {
		t.Errorf("mage run said:\n%s", out)
	}
}

// TestRunDockerShWithoutGo runs run_docker.sh where there is no Go: with
// the docker command and DOCKERHUB_USERNAME it does what it did before
// mage, and says so; without them it says what to install.
func TestRunDockerShWithoutGo(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"sh", "dirname"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(imagetest.Root(t), "run_docker.sh")
	cmd := exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + bin, "DOCKERHUB_USERNAME=alice"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	if !strings.Contains(string(out), "Go is not installed") || !strings.Contains(string(out), "https://go.dev/dl/") {
		t.Errorf("output %q does not say what to do", out)
	}

	calls := filepath.Join(t.TempDir(), "calls")
	fake := "#!/bin/sh\necho \"$*\" >>" + calls + "\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + bin, "DOCKERHUB_USERNAME=alice"}
	if out, err = cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Go is not installed: running alice/oc-lettings:latest with docker alone") {
		t.Errorf("with docker: %v\n%s", err, out)
	}
	want := "pull alice/oc-lettings:latest\nrun --rm -p 8000:8000 -e PORT=8000 alice/oc-lettings:latest\n"
	if got, _ := os.ReadFile(calls); string(got) != want {
		t.Errorf("docker was called with\n%s\nwant\n%s", got, want)
	}
}
