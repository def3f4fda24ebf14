package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// stopTimeout is how long the server has to exit after SIGTERM before it is killed.
const stopTimeout = 5 * time.Second

// server is a running app process listening on a loopback port.
type server struct {
	cmd    *exec.Cmd
	base   string             // "http://127.0.0.1:<port>"
	cancel context.CancelFunc // sends SIGTERM, and a kill stopTimeout later
	exited chan error         // receives the result of cmd.Wait
	stderr *runner.Tail
}

// startServer starts binary on a free loopback port with env added to
// PORT, and waits until it answers 200 on /healthz. It returns the time from
// starting the process to that first 200.
func startServer(ctx context.Context, binary string, env []string) (*server, time.Duration, error) {
	port, err := freePort(ctx)
	if err != nil {
		return nil, 0, err
	}
	// The process ends by stop, however the caller ends: ctx's cancellation
	// must not end it first, so it gets a context of its own. Cancelling that
	// sends SIGTERM, and os/exec kills the process WaitDelay later.
	procCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := exec.CommandContext(procCtx, binary)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	cmd.Env = append([]string{"PORT=" + port}, env...)
	cmd.Stdout = io.Discard // a pipe, drained, as a platform's log collector would
	s := &server{cmd: cmd, base: "http://127.0.0.1:" + port, cancel: cancel, exited: make(chan error, 1)}
	s.stderr = &runner.Tail{Max: 4 << 10}
	cmd.Stderr = s.stderr
	// The wait for /healthz gives up after 10 seconds, or as soon as the
	// process exits; stop then says how it exited.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	time.AfterFunc(10*time.Second, func() { stopWaiting(errors.New("no answer within 10s")) })
	start := time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, 0, fmt.Errorf("start %q: %w", binary, err)
	}
	go func() {
		s.exited <- cmd.Wait()
		stopWaiting(errors.New("server exited before answering /healthz"))
	}()
	if _, err := healthz.Wait(waitCtx, s.base+"/healthz", time.Millisecond, healthz.Up); err != nil {
		return nil, 0, errors.Join(err, s.stop())
	}
	return s, time.Since(start), nil
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// stopTimeout. Anything but a clean exit after SIGTERM (an exit before, an
// exit status other than 0, the kill) is an error, with the server's stderr.
func (s *server) stop() error {
	s.cancel()
	// os/exec reports a clean exit after Cancel as the context's error.
	if err := <-s.exited; !errors.Is(err, context.Canceled) {
		return fmt.Errorf("server should run until SIGTERM, then exit 0 within %v; it ended with %v:\n%s",
			stopTimeout, s.cmd.ProcessState, s.stderr.Lines(50))
	}
	return nil
}

// reStylesheet finds the hashed stylesheet URL in the home page.
var reStylesheet = regexp.MustCompile(`href="(/static/css/site\.[0-9a-f]+\.css)"`)

// stylesheet returns the path of the hashed stylesheet the home page links.
func (s *server) stylesheet(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/", nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	home, err := io.ReadAll(res.Body)
	if m := reStylesheet.FindSubmatch(home); m != nil {
		return string(m[1]), nil
	}
	return "", errors.Join(fmt.Errorf("no hashed stylesheet link in the home page (HTTP %s)", res.Status), err)
}

// peakRSS returns the process's peak resident set size, VmHWM, in bytes.
func (s *server) peakRSS() (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	return parseVMHWM(string(status))
}

// parseVMHWM reads the VmHWM line of a /proc/<pid>/status file.
func parseVMHWM(status string) (int64, error) {
	_, line, _ := strings.Cut(status, "VmHWM:") // with no such line, "" fails to scan
	var kb int64
	if _, err := fmt.Sscanf(line, "%d kB\n", &kb); err != nil {
		return 0, fmt.Errorf("no VmHWM line in kB in /proc status: %w", err)
	}
	return kb << 10, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(ctx context.Context) (string, error) {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
