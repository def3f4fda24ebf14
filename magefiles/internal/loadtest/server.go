package loadtest

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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// stopTimeout bounds the wait for the server to exit after SIGTERM, before
// it is killed.
const stopTimeout = 5 * time.Second

// server is a running app process listening on a loopback port.
type server struct {
	cmd    *exec.Cmd
	base   string        // "http://127.0.0.1:<port>"
	exited chan struct{} // closed when the process has exited
	err    error         // the result of cmd.Wait, once exited is closed
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
	// The process ends by stop, with SIGTERM and a grace period, however Run
	// ends: ctx's cancellation must not kill it first, so it is left out.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), binary)
	cmd.Env = append([]string{"PORT=" + port}, env...)
	cmd.Stdout = io.Discard // a pipe, drained, as a platform's log collector would
	stderr := &runner.Tail{Max: 4 << 10}
	cmd.Stderr = stderr
	s := &server{cmd: cmd, base: "http://127.0.0.1:" + port, exited: make(chan struct{}), stderr: stderr}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitHealthy(ctx); err != nil {
		select {
		case <-s.exited: // nothing to stop; an early exit is in err already
			return nil, 0, err
		default:
			return nil, 0, errors.Join(err, s.stop())
		}
	}
	return s, time.Since(start), nil
}

// waitHealthy asks /healthz every millisecond until it answers ok, the
// process exits, ctx ends, or 10 seconds pass.
func (s *server) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, 10*time.Second, errors.New("no answer within 10s"))
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		select {
		case <-s.exited:
			stop(s.exitError("server exited before answering /healthz"))
		case <-ctx.Done():
		}
	}()
	_, err := healthz.Wait(ctx, s.base+"/healthz", time.Millisecond, healthz.Up)
	return err
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// stopTimeout. It reports an exit other than a clean one after SIGTERM.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return s.exitError("server exited during the load test")
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop server: %w", err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			return fmt.Errorf("server exited badly after SIGTERM: %w\n%s", s.err, s.stderr.Lines(50))
		}
		return nil
	case <-time.After(stopTimeout):
		// os.ErrProcessDone: it exited just now, and exited is closed.
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("server still running %v after SIGTERM; kill: %w", stopTimeout, err)
		}
		<-s.exited
		return fmt.Errorf("server still running %v after SIGTERM; killed", stopTimeout)
	}
}

// exitError reports that the process exited, unasked, with what it said on
// stderr. It is called once exited is closed.
func (s *server) exitError(what string) error {
	if s.err == nil {
		return fmt.Errorf("%s: exit status 0\n%s", what, s.stderr.Lines(50))
	}
	return fmt.Errorf("%s: %w\n%s", what, s.err, s.stderr.Lines(50))
}

// get fetches path from the server and returns the body.
func (s *server) get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", path, res.StatusCode)
	}
	return string(body), nil
}

// peakRSS returns the process's peak resident set size, VmHWM, in bytes.
func (s *server) peakRSS() (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	defer f.Close()
	return parseVMHWM(f)
}

// parseVMHWM reads the VmHWM line of a /proc/<pid>/status file.
func parseVMHWM(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", fields[0], err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM line in /proc status")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
