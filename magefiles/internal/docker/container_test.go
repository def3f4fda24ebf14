package docker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// program is what the test image runs: it writes a line to each stream,
// then exits with $EXIT when set, or waits for SIGTERM.
const program = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	fmt.Println("to stdout")
	fmt.Fprintln(os.Stderr, "to stderr")
	if code, err := strconv.Atoi(os.Getenv("EXIT")); err == nil {
		os.Exit(code)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
}
`

// buildProgram builds a scratch image that runs program, tagged ref, and
// removes the tag when the test ends.
func buildProgram(t *testing.T, e *Engine, raw *client.Client, ref string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"go.mod": "module tiny\n\ngo 1.22\n", "main.go": program} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", "tiny", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Missing(t, "go build", err, string(out))
	}
	binary, err := os.ReadFile(filepath.Join(dir, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := []byte("FROM scratch\nCOPY tiny /tiny\nENTRYPOINT [\"/tiny\"]\n")
	var log strings.Builder
	if _, err := e.Build(context.Background(), BuildOptions{Context: BinaryContext(dockerfile, "tiny", binary), Tags: []string{ref}, Log: &log}); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	testenv.RemoveWhenDone(t, raw, ref)
}

func TestContainerLifecycle(t *testing.T) {
	e, raw := connect(t)
	ctx := context.Background()
	ref := testenv.Unique(t, "oc-lettings-docker-test-") + ":v1"
	buildProgram(t, e, raw, ref)
	labels := map[string]string{"com.github.oc-lettings.test": testenv.Unique(t, "")}
	create := func(name string, port int, env ...string) string {
		t.Helper()
		id, err := e.CreateContainer(ctx, ContainerSpec{Name: name, Image: ref, Env: env, Port: port, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.RemoveContainer(context.Background(), id, 0) })
		return id
	}

	t.Run("runs to its end", func(t *testing.T) {
		name := testenv.Unique(t, "oc-lettings-docker-test-")
		id := create(name, testenv.FreePort(t), "EXIT=3")
		found, err := e.Containers(ctx, labels)
		if err != nil || found[name]["com.github.oc-lettings.test"] != labels["com.github.oc-lettings.test"] {
			t.Errorf("Containers = %v, %v: want %s with its labels", found, err, name)
		}
		c, err := raw.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, bindings := range c.Container.HostConfig.PortBindings {
			for _, b := range bindings {
				if b.HostIP.String() != "127.0.0.1" {
					t.Errorf("port published on %s, want 127.0.0.1 only", b.HostIP)
				}
			}
		}
		if err := e.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if code, err := e.WaitContainer(waitCtx, id); err != nil || code != 3 {
			t.Errorf("WaitContainer = %d, %v; want exit code 3", code, err)
		}
		var stdout, stderr strings.Builder
		if err := e.FollowLogs(waitCtx, id, &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		if stdout.String() != "to stdout\n" || stderr.String() != "to stderr\n" {
			t.Errorf("logs: stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		if err := e.RemoveContainer(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := e.RemoveContainer(ctx, id, time.Second); err != nil {
			t.Errorf("removing a container already gone: %v", err)
		}
		if found, _ := e.Containers(ctx, labels); len(found) != 0 {
			t.Errorf("containers left: %v", found)
		}
	})

	t.Run("a port already published", func(t *testing.T) {
		port := testenv.FreePort(t)
		holder := create(testenv.Unique(t, "oc-lettings-docker-test-"), port)
		if err := e.StartContainer(ctx, holder); err != nil {
			t.Fatal(err)
		}
		err := e.StartContainer(ctx, create(testenv.Unique(t, "oc-lettings-docker-test-"), port))
		if err == nil || !IsPortInUse(err) {
			t.Errorf("starting a second container on port %d: %v, want the port in use", port, err)
		}
		start := time.Now()
		if err := e.RemoveContainer(ctx, holder, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("removing a container that stops on SIGTERM took %s", took)
		}
	})

	t.Run("a missing image", func(t *testing.T) {
		name := testenv.Unique(t, "oc-lettings-docker-test-")
		_, err := e.CreateContainer(ctx, ContainerSpec{Name: name, Image: ref + "-missing", Port: 8000})
		var nf *registry.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("error %v, want a *registry.NotFoundError", err)
		}
	})
}

func TestRemoveUntagged(t *testing.T) {
	e, raw := connect(t)
	ctx := context.Background()
	ref := testenv.Unique(t, "oc-lettings-docker-test-") + ":v1"
	id := buildTiny(t, e, raw, ref)
	if err := e.RemoveUntagged(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := e.Image(ctx, id); !found {
		t.Fatal("an image with a tag was removed")
	}
	// Another name moves the image's only tag elsewhere: it is untagged.
	other := testenv.Unique(t, "oc-lettings-docker-test-") + ":v1"
	buildTiny(t, e, raw, other)
	if err := e.Tag(ctx, other, ref); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveUntagged(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := e.Image(ctx, id); found {
		t.Error("the untagged image is still there")
	}
	if err := e.RemoveUntagged(ctx, id); err != nil {
		t.Errorf("removing an image already gone: %v", err)
	}
}
