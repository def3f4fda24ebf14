package runlocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/image"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// built is the site's image, built in a copy of the repository.
type built struct {
	dir  string
	raw  *client.Client
	eng  *docker.Engine
	b    *image.Builder
	info gitinfo.Info
	res  image.Result
}

func buildSite(t testing.TB, where image.Where) *built {
	t.Helper()
	raw := testenv.Docker(t)
	eng, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	s := &built{dir: imagetest.Repo(t), raw: raw, eng: eng}
	var out strings.Builder
	s.b = &image.Builder{Engine: eng, Runner: &runner.Runner{Out: &out}, Dir: s.dir, Where: where}
	if s.info, err = gitinfo.Read(context.Background(), s.b.Runner, s.dir); err != nil {
		t.Fatal(err)
	}
	testenv.RemoveWhenDone(t, raw, where.NamesFor(s.info).Tags()...)
	if s.res, err = s.b.Build(context.Background(), s.info); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	return s
}

// containersOf lists the containers, running or not, made from image.
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
		names = append(names, strings.Join(c.Names, ","))
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

func TestRunTheSite(t *testing.T) {
	s := buildSite(t, image.Where{Registry: "docker.io", Name: testenv.Unique(t, "oc-lettings-test-")})
	ref := s.res.Names.Commit

	t.Run("serves until interrupted, then is gone", func(t *testing.T) {
		port := testenv.FreePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var status int
		var body, health string
		var log strings.Builder
		err := Run(ctx, s.eng, Options{
			Image: ref, Port: port, Out: &log, Err: &log,
			Ready: func(url string) {
				status, body = get(t, url)
				_, health = get(t, url+"healthz")
				if names := containersOf(t, s.raw, ref); len(names) != 1 {
					t.Errorf("containers while running: %q, want one", names)
				}
				cancel()
			},
		})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.String())
		}
		if status != http.StatusOK || !strings.Contains(body, "Lettings") {
			t.Errorf("GET / = %d %.200q", status, body)
		}
		if !strings.Contains(health, s.info.Commit) {
			t.Errorf("/healthz = %q, want the commit %s", health, s.info.Commit)
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
		err = Run(context.Background(), s.eng, Options{Image: ref, Port: port, Out: io.Discard, Err: io.Discard})
		var inUse *PortInUseError
		if !errors.As(err, &inUse) || !strings.Contains(err.Error(), fmt.Sprintf("port %d on 127.0.0.1 is already in use", port)) {
			t.Errorf("error %v, want a *PortInUseError", err)
		}
		if names := containersOf(t, s.raw, ref); len(names) != 0 {
			t.Errorf("containers left: %q", names)
		}
	})

	t.Run("a site that cannot start", func(t *testing.T) {
		var log strings.Builder
		err := Run(context.Background(), s.eng, Options{
			Image: ref, Port: testenv.FreePort(t), Env: []string{"SENTRY_DSN=not a DSN"}, Out: &log, Err: &log,
			HealthTimeout: 20 * time.Second,
		})
		if err == nil || !strings.Contains(err.Error(), "the site stopped with exit code 1 before answering /healthz") {
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
		err := Run(context.Background(), s.eng, Options{Image: ref + "-missing", Port: testenv.FreePort(t), Out: io.Discard, Err: io.Discard})
		var nf *docker.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("error %v, want a *docker.NotFoundError", err)
		}
	})
}

// TestMageRunLocal runs go tool mage runLocal and run_docker.sh with
// DOCKERHUB_USERNAME set, as documented, against the test's registry, and
// stops them the ways a user or a process manager would.
func TestMageRunLocal(t *testing.T) {
	reg := testenv.StartRegistry(t)
	where := image.Where{Registry: reg.Host, User: reg.User, Name: testenv.Unique(t, "oc-lettings-test-")}
	s := buildSite(t, where)
	auth := docker.Auth{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host}
	if _, err := s.b.Push(context.Background(), s.res, auth, nil); err != nil {
		t.Fatal(err)
	}
	latest := s.res.Names.Latest
	// Drop the local copy, so that runLocal must pull it.
	for _, ref := range s.res.Names.Tags() {
		if _, err := s.raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tt := range []struct {
		name    string
		command []string
		signal  syscall.Signal
		group   bool // to the whole process group, as a terminal's Ctrl-C, systemd or timeout(1) do
	}{
		{"Ctrl-C", []string{"go", "tool", "mage", "runLocal"}, syscall.SIGINT, true},
		{"run_docker.sh, SIGTERM to the process group", []string{"./run_docker.sh"}, syscall.SIGTERM, true},
		{"run_docker.sh, SIGTERM to it alone", []string{"./run_docker.sh"}, syscall.SIGTERM, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := testenv.FreePort(t)
			cmd := exec.Command(tt.command[0], tt.command[1:]...)
			cmd.Dir = s.dir
			cmd.Env = imagetest.Env(map[string]string{
				"DOCKERHUB_USERNAME": reg.User, "DOCKERHUB_PASS": reg.Password, "DOCKER_REGISTRY": reg.Host,
				"IMAGE_NAME": where.Name, "PORT": fmt.Sprint(port), "SENTRY_ENVIRONMENT": "runlocal-test",
			})
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

			var out strings.Builder
			lines := bufio.NewScanner(stdout)
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			running := false
			for !running && lines.Scan() {
				out.WriteString(lines.Text() + "\n")
				running = strings.Contains(lines.Text(), "OC Lettings is running at "+url)
			}
			if !running {
				t.Fatalf("runLocal did not start:\n%s", out.String())
			}
			if status, _ := get(t, url); status != http.StatusOK {
				t.Errorf("GET / = %d", status)
			}
			names := containersOf(t, s.raw, latest)
			if len(names) != 1 {
				t.Fatalf("containers while running: %q, want one", names)
			}
			c, err := s.raw.ContainerInspect(context.Background(), strings.TrimPrefix(names[0], "/"), client.ContainerInspectOptions{})
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

			target := cmd.Process.Pid
			if tt.group {
				target = -target
			}
			if err := syscall.Kill(target, tt.signal); err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				t.Logf("%s ended: %v", tt.command[0], err)
			case <-time.After(10 * time.Second):
				t.Fatal("runLocal did not stop")
			}

			// Whatever way it was stopped, the container must go, within
			// the 5 s mage allows.
			deadline := time.Now().Add(6 * time.Second)
			for len(containersOf(t, s.raw, latest)) > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if names := containersOf(t, s.raw, latest); len(names) != 0 {
				t.Errorf("containers left: %q\n%s", names, out.String())
			}
			if strings.Contains(out.String(), reg.Password) {
				t.Error("the password shows in the output")
			}
		})
	}
}

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
	cmd := exec.Command("sh", filepath.Join(imagetest.Root(t), "run_docker.sh"))
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	if !strings.Contains(string(out), "Go is not installed") || !strings.Contains(string(out), "https://go.dev/dl/") {
		t.Errorf("output %q does not say what to do", out)
	}
}
