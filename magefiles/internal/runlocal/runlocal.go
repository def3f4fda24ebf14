// Package runlocal runs the site's image as a container on this machine:
// the logic behind mage runLocal. The container's port is published on
// 127.0.0.1 only, its log is streamed, and its URL is printed once /healthz
// answers. It is stopped and removed on every way out (Ctrl-C, SIGTERM,
// SIGHUP from a closed terminal, mage killed alone, a failed start, a site
// that never answers or exits early) within the 5 s mage gives a target
// after Ctrl-C, and nothing is written once Main returns.
//
// Only a run killed outright (kill -9, or Ctrl-C twice) leaves its
// container behind, holding the port. Containers are labelled with the
// checkout and the process that made them, so the next run in the same
// checkout finds such a container, says so, and removes it.
package runlocal

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Engine is what runLocal needs of a Docker engine; *docker.Engine is one.
type Engine interface {
	IsLocal() bool
	Containers(ctx context.Context, labels map[string]string) (map[string]map[string]string, error)
	CreateContainer(ctx context.Context, spec docker.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	FollowLogs(ctx context.Context, id string, stdout, stderr io.Writer) error
	WaitContainer(ctx context.Context, id string) (int, error)
	RemoveContainer(ctx context.Context, id string, grace time.Duration) error
}

// Timings. Clean-up fits in the 5 s mage gives a target after Ctrl-C.
const (
	healthTimeout  = 30 * time.Second       // for the site to answer /healthz
	stopGrace      = 2 * time.Second        // between SIGTERM and SIGKILL
	cleanupTimeout = 4 * time.Second        // for stopping and removing the container
	logTail        = 500 * time.Millisecond // for the log's last lines, once the container is removed
	pollInterval   = 20 * time.Millisecond  // between two questions to /healthz
	parentPoll     = 200 * time.Millisecond // between two looks at the parent process
)

// Labels of the containers runLocal makes. To list them:
//
//	docker ps -a --filter label=com.github.oc-lettings.run=local
const (
	Label         = "com.github.oc-lettings.run"      // always "local"
	CheckoutLabel = "com.github.oc-lettings.checkout" // the checkout: host name and directory, as in laptop:/home/me/oc-lettings
	OwnerLabel    = "com.github.oc-lettings.pid"      // the ID of the process that made it, on that host
	PortLabel     = "com.github.oc-lettings.port"     // the port it publishes
)

// Options say what to run.
type Options struct {
	Port string   // PORT, already validated: the site listens on it, and it is published on 127.0.0.1
	Env  []string // KEY=value entries for the site, besides PORT
	// Image builds or pulls the image to run, and returns its reference.
	// It is called once the port is known to be free.
	Image func(ctx context.Context) (string, error)

	Out io.Writer // status lines and the site's standard output
	Err io.Writer // the site's standard error

	healthTimeout time.Duration    // zero means healthTimeout; tests shorten it
	ready         func(url string) // called once the site answers; nil prints the URL
}

// errParentGone ends the run when mage has exited without passing on a signal.
var errParentGone = errors.New("mage, which started this target, has exited")

// Main is mage runLocal. It removes the containers that earlier runs in
// this checkout left behind, checks that the port is free when the engine
// runs on this machine (before anything is pulled or built), gets the
// image from o.Image, and runs it until Ctrl-C, SIGTERM or SIGHUP, or
// until mage exits. An interrupted run is not an error.
func Main(ctx context.Context, eng Engine, o Options) error {
	// mage passes only Ctrl-C on to the target: without these, SIGTERM and
	// SIGHUP would end this process at once and leave the container running.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, stopWatching := withParent(ctx)
	defer stopWatching()
	// Once mage has exited, whatever read its output may close it: writing
	// the site's last lines must fail quietly, not end the clean-up.
	signal.Ignore(syscall.SIGPIPE)

	port, err := strconv.Atoi(o.Port)
	if err != nil {
		return fmt.Errorf("%s=%q is not a port number: set it to a number between 1 and 65535", settings.Port.Name, o.Port)
	}
	here, err := checkout()
	if err != nil {
		return err
	}
	if err := removeLeftovers(ctx, eng, here, o.Out); err != nil {
		return err
	}
	if eng.IsLocal() {
		if err := CheckPort(ctx, port); err != nil {
			return err
		}
	}
	ref, err := o.Image(ctx)
	if err != nil {
		return err
	}
	return run(ctx, eng, docker.ContainerSpec{
		Name:  "oc-lettings-local-" + strings.ToLower(rand.Text()[:8]),
		Image: ref,
		Env:   append([]string{settings.Port.Name + "=" + o.Port}, o.Env...),
		Port:  port,
		Labels: map[string]string{
			Label: "local", CheckoutLabel: here, OwnerLabel: strconv.Itoa(os.Getpid()), PortLabel: o.Port,
		},
	}, o)
}

// checkout names this checkout for CheckoutLabel: this machine's name and
// the directory mage runs in, the repository root.
func checkout() (string, error) {
	host, _ := os.Hostname() // "" will do too: it only has to be the same every time
	dir, err := os.Getwd()
	return host + ":" + dir, err
}

// removeLeftovers removes the containers of checkout whose runLocal has
// gone without removing them. Those of a runLocal still running (in
// another terminal, on another port) stay.
func removeLeftovers(ctx context.Context, eng Engine, checkout string, out io.Writer) error {
	found, err := eng.Containers(ctx, map[string]string{Label: "local", CheckoutLabel: checkout})
	if err != nil {
		return fmt.Errorf("looking for containers left behind by earlier runs: %w", err)
	}
	for name, labels := range found {
		if pid, err := strconv.Atoi(labels[OwnerLabel]); err == nil && alive(pid) {
			continue
		}
		fmt.Fprintf(out, "removing container %s, left running by an earlier runLocal of this checkout (it held port %s)\n",
			name, labels[PortLabel])
		if err := eng.RemoveContainer(ctx, name, stopGrace); err != nil {
			return fmt.Errorf("%w: remove it with docker rm -f %s", err, name)
		}
	}
	return nil
}

// alive reports whether process pid runs on this machine.
func alive(pid int) bool {
	p, err := os.FindProcess(pid) // on Windows, fails for a process that has gone
	if pid <= 0 || err != nil {
		return false
	}
	defer func() { _ = p.Release() }()
	// On Linux, a process killed but not yet reaped (a zombie) has gone too.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(stat, ')'); err == nil && i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// CheckPort returns a *PortInUseError when port is taken on 127.0.0.1 of
// this machine: mage run checks it too.
func CheckPort(ctx context.Context, port int) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return &PortInUseError{Port: port, Err: err}
	}
	return l.Close()
}

// PortInUseError reports a port that something else already listens on.
type PortInUseError struct {
	Port int
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d on 127.0.0.1 is already in use: stop what listens there, or choose another port, e.g. %s=%d",
		e.Port, settings.Port.Name, e.Port+1)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// run creates and starts the container spec describes, waits until the
// site answers, and streams its log until ctx ends or the site stops. It
// removes the container whatever happens once it is created, and writes
// nothing once it returns.
func run(ctx context.Context, eng Engine, spec docker.ContainerSpec, o Options) (err error) {
	// Created even if Ctrl-C comes meanwhile: a request cut off half-way
	// could leave a container the engine made but whose ID never arrived.
	createCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	id, err := eng.CreateContainer(createCtx, spec)
	cancel()
	if err != nil {
		return err
	}
	// The log is followed until the container is removed, not only until
	// ctx ends, so that the site's last lines (its shutdown) are shown too.
	logsCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	var logsDone chan struct{} // closed when the log stream has ended; nil until it starts
	defer func() {
		if ctx.Err() != nil {
			err = nil // an interrupted run is not an error
		}
		// Stopped and removed in time even after Ctrl-C, then the log's last lines.
		removeCtx, stopRemoving := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer stopRemoving()
		if rmErr := eng.RemoveContainer(removeCtx, id, stopGrace); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("the container %s could not be removed (%w): remove it with docker rm -f %s",
				spec.Name, rmErr, spec.Name))
		}
		if logsDone != nil {
			t := time.AfterFunc(logTail, stopLogs)
			<-logsDone
			t.Stop()
		}
		stopLogs()
	}()
	if err := eng.StartContainer(ctx, id); err != nil {
		if docker.IsPortInUse(err) {
			return &PortInUseError{Port: spec.Port, Err: err}
		}
		return err
	}
	logsDone = make(chan struct{})
	go func() {
		defer close(logsDone)
		_ = eng.FollowLogs(logsCtx, id, o.Out, o.Err)
	}()
	// running ends with ctx, or when the container stops, with a cause that says so.
	running, stop := context.WithCancelCause(ctx)
	defer stop(context.Canceled)
	go func() {
		code, err := eng.WaitContainer(running, id)
		if err == nil {
			err = fmt.Errorf("the site stopped with exit code %d", code)
		}
		stop(err)
	}()

	url := "http://127.0.0.1:" + strconv.Itoa(spec.Port) + "/"
	timeout := cmp.Or(o.healthTimeout, healthTimeout)
	waitCtx, stopWaiting := context.WithTimeoutCause(running, timeout, fmt.Errorf("the site did not answer within %s", timeout))
	defer stopWaiting()
	if _, err := healthz.Wait(waitCtx, url+"healthz", pollInterval, healthz.Up); err != nil {
		return fmt.Errorf("%w; its log is above", err)
	}
	if o.ready != nil {
		o.ready(url)
	} else {
		fmt.Fprintf(o.Out, "OC Lettings is running at %s (Ctrl-C stops and removes the container)\n", url)
	}
	<-running.Done()
	return fmt.Errorf("%w; its log is above", context.Cause(running))
}

// withParent returns a copy of ctx that is also cancelled, with
// errParentGone, when the process that started this one exits: go tool
// mage runs the target in a child process, and a signal to mage alone
// (SIGTERM, SIGKILL) ends mage but leaves the target running. It does
// nothing where a process keeps its parent's ID (Windows).
func withParent(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func(parent int) {
		for ctx.Err() == nil && os.Getppid() == parent {
			time.Sleep(parentPoll)
		}
		cancel(errParentGone) // does nothing once ctx has ended
	}(os.Getppid())
	return ctx, func() { cancel(context.Canceled) }
}
