// Package runlocal runs the site's image as a container on this machine
// (mage runLocal): published on 127.0.0.1 only, its log streamed, its URL
// printed once /healthz answers, and the container stopped and removed on
// every way out: Ctrl-C, SIGTERM, a failed start, a site that never answers
// or exits early.
package runlocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Engine is what Run needs of a Docker engine; *docker.Engine is one.
type Engine interface {
	CreateContainer(ctx context.Context, spec docker.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	FollowLogs(ctx context.Context, id string, stdout, stderr io.Writer) error
	WaitContainer(ctx context.Context, id string) (int, error)
	RemoveContainer(ctx context.Context, id string, grace time.Duration) error
}

// Timings. Cleanup fits in the 5 s mage gives a target after Ctrl-C.
const (
	DefaultHealthTimeout = 30 * time.Second
	StopGrace            = 2 * time.Second        // between SIGTERM and SIGKILL
	CleanupTimeout       = 4 * time.Second        // for stopping and removing the container
	logTail              = 500 * time.Millisecond // for the last lines of the log, once it is removed
	pollInterval         = 20 * time.Millisecond
)

// Label marks the containers Run creates, to find any left behind:
// docker ps -a --filter label=com.github.oc-lettings.run=local
const Label = "com.github.oc-lettings.run"

// Options say what to run.
type Options struct {
	Image string   // image reference or ID
	Port  int      // the port the site listens on inside and is published on outside
	Env   []string // KEY=value entries for the site, besides PORT

	Out io.Writer // the container's standard output and the status lines; nil means os.Stdout
	Err io.Writer // the container's standard error; nil means os.Stderr

	// HealthTimeout bounds the wait for /healthz; zero means DefaultHealthTimeout.
	HealthTimeout time.Duration
	// Ready is called with the site's URL once /healthz answers; nil prints it on Out.
	Ready func(url string)
}

// SiteEnv returns what mage runLocal passes to the site from env, as
// KEY=value entries for Options.Env: SENTRY_DSN and SENTRY_ENVIRONMENT,
// each only when set, so that the site's own defaults apply otherwise.
func SiteEnv(env settings.Env) []string {
	var entries []string
	for _, v := range []settings.Var{settings.SentryDSN, settings.SentryEnvironment} {
		if v.IsSet(env) {
			entries = append(entries, v.Name+"="+v.Get(env))
		}
	}
	return entries
}

// Run creates and starts the container, waits for the site to answer,
// streams its log until ctx ends (Ctrl-C) or the container stops, and
// removes it whatever happens once it is created. An interrupted run is
// not an error.
func Run(ctx context.Context, eng Engine, o Options) (err error) {
	out, errOut := o.Out, o.Err
	if out == nil {
		out = os.Stdout
	}
	if errOut == nil {
		errOut = os.Stderr
	}
	name, err := containerName()
	if err != nil {
		return err
	}
	// Created even if Ctrl-C comes meanwhile: a request cut off half-way
	// could leave a container the engine made but whose ID never arrived.
	createCtx, cancelCreate := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	id, err := eng.CreateContainer(createCtx, docker.ContainerSpec{
		Name:   name,
		Image:  o.Image,
		Env:    append([]string{settings.Port.Name + "=" + strconv.Itoa(o.Port)}, o.Env...),
		Port:   o.Port,
		Labels: map[string]string{Label: "local"},
	})
	cancelCreate()
	if err != nil {
		return err
	}
	// The log is followed until the container is gone, not until ctx ends,
	// so that the site's last lines (its shutdown) are shown too.
	logsCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	logsDone := make(chan struct{})
	logsStarted := false
	defer func() {
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		defer cancel()
		if rmErr := eng.RemoveContainer(cleanupCtx, id, StopGrace); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("the container %s could not be removed (%w): remove it with docker rm -f %s", name, rmErr, name))
		}
		if logsStarted {
			waitOrGiveUp(logsDone, logTail) // the site's last lines
			stopLogs()
			<-logsDone // nothing may write to Out once Run has returned
		}
	}()
	if ctx.Err() != nil {
		return nil
	}

	if err := eng.StartContainer(ctx, id); err != nil {
		if docker.IsPortInUse(err) {
			return &PortInUseError{Port: o.Port, Err: err}
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	logsStarted = true
	go func() {
		defer close(logsDone)
		_ = eng.FollowLogs(logsCtx, id, out, errOut)
	}()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	exited := make(chan exit, 1)
	go func() {
		code, err := eng.WaitContainer(runCtx, id)
		exited <- exit{code: code, err: err}
	}()
	// afterExit turns the container's end into the error to return, once
	// its last lines are shown.
	afterExit := func(e exit, when string) error {
		waitOrGiveUp(logsDone, time.Second)
		if e.err != nil {
			return fmt.Errorf("lost track of the container %s: %w", when, e.err)
		}
		return fmt.Errorf("the site stopped with exit code %d %s; its log is above", e.code, when)
	}

	url := "http://127.0.0.1:" + strconv.Itoa(o.Port) + "/"
	healthy, e, err := waitHealthy(ctx, url+"healthz", exited, o.HealthTimeout)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return err
	case !healthy:
		return afterExit(e, "before answering /healthz")
	}
	if o.Ready != nil {
		o.Ready(url)
	} else {
		fmt.Fprintf(out, "OC Lettings is running at %s (Ctrl-C stops and removes the container)\n", url)
	}

	select {
	case <-ctx.Done():
		return nil
	case e := <-exited:
		if ctx.Err() != nil {
			return nil
		}
		return afterExit(e, "while running")
	}
}

// waitOrGiveUp waits until done is closed or d has passed.
func waitOrGiveUp(done <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

type exit struct {
	code int
	err  error
}

// waitHealthy polls url until it answers 200 (healthy), the container stops
// (its exit is returned), ctx ends, or timeout passes (an error).
func waitHealthy(ctx context.Context, url string, exited <-chan exit, timeout time.Duration) (bool, exit, error) {
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		if ok(ctx, client, url) {
			return true, exit{}, nil
		}
		select {
		case <-ctx.Done():
			return false, exit{}, nil
		case e := <-exited:
			return false, e, nil
		case <-deadline.C:
			return false, exit{}, fmt.Errorf("the site did not answer %s within %s; its log is above", url, timeout)
		case <-tick.C:
		}
	}
}

func ok(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func containerName() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "oc-lettings-local-" + hex.EncodeToString(b), nil
}

// CheckPort returns a *PortInUseError when port is already taken on
// 127.0.0.1 of this machine. It is only meaningful when the engine runs
// here too (docker.Engine.IsLocal).
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
	return fmt.Sprintf("port %d on 127.0.0.1 is already in use: stop what listens there, or choose another port, e.g. %s=%d go tool mage runLocal",
		e.Port, settings.Port.Name, e.Port+1)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// parentPoll is how often WithParent looks at the parent process.
const parentPoll = 200 * time.Millisecond

// ErrParentGone ends the context of WithParent.
var ErrParentGone = errors.New("mage, which started this target, has exited")

// WithParent returns a copy of ctx that is also cancelled, with
// ErrParentGone, when the process that started this one exits.
//
// go tool mage runs a target in a child process and passes Ctrl-C to it,
// but not SIGTERM: a SIGTERM sent to mage ends mage at once and leaves the
// target running, orphaned, with its container. This is how the target
// notices. Where a process keeps its parent ID (Windows) it does nothing.
func WithParent(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	parent := os.Getppid()
	go func() {
		tick := time.NewTicker(parentPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if os.Getppid() != parent {
					cancel(ErrParentGone)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// ParsePort reads a port number as PORT gives it.
func ParsePort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port number: set it to a number between 1 and 65535, e.g. %s=8000",
			settings.Port.Name, s, settings.Port.Name)
	}
	return port, nil
}
