package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
)

// Values stamped into the test binary with -ldflags -X.
const (
	stampedVersion = "v1.2.3-test"
	stampedCommit  = "0123456789abcdef0123456789abcdef01234567"
)

var (
	buildOnce sync.Once
	binary    string
	errBuild  error
)

// buildBinary builds the app once per test run, as the pipeline does, with a
// stamped version and commit.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oc-lettings-test-")
		if err != nil {
			errBuild = err
			return
		}
		binary = filepath.Join(dir, "app")
		ldflags := fmt.Sprintf("-X %s.Version=%s -X %s.Commit=%s",
			buildinfo.Path, stampedVersion, buildinfo.Path, stampedCommit)
		cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", binary, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			errBuild = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if errBuild != nil {
		t.Fatal(errBuild)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the binary with only the given environment, so the developer's
// own SENTRY_DSN and the like cannot leak in.
func start(t *testing.T, env ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(buildBinary(t))
	cmd.Env = env
	stdout, stderr := new(lockedBuffer), new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			// Best effort: the test has already failed or finished with it.
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

// wait waits up to limit for cmd to exit and returns its exit code.
func wait(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		_ = cmd.Process.Kill() // best effort: it may have exited just now, and is waited for below
		t.Fatalf("still running %v later; killed: %v", limit, <-done)
		return -1
	}
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	port := freePort(t)
	cmd, stdout, stderr := start(t, "PORT="+port)
	base := "http://127.0.0.1:" + port

	var res *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		res, err = http.Get(base + "/healthz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on /healthz after 10s: %v\nstderr: %s", err, stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: status %d", res.StatusCode)
	}
	var health map[string]string
	if err := json.Unmarshal(body, &health); err != nil {
		t.Fatalf("/healthz body %q: %v", body, err)
	}
	want := map[string]string{"status": "ok", "version": stampedVersion, "commit": stampedCommit}
	for k, v := range want {
		if health[k] != v {
			t.Errorf("/healthz %s = %q, want %q", k, health[k], v)
		}
	}

	res, err := http.Get(base + "/lettings/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/lettings/: status %d", res.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := wait(t, cmd, 5*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\nstderr: %s", code, stderr)
	}
	logs := stdout.String()
	for _, want := range []string{`"msg":"starting"`, `"path":"/lettings/","status":200`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("stdout lacks %s:\n%s", want, logs)
		}
	}
	for line := range strings.Lines(logs) {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

func TestBinaryRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		env      string
		variable string
	}{
		{"SENTRY_TRACES_SAMPLE_RATE=lots", "SENTRY_TRACES_SAMPLE_RATE"},
		{"SENTRY_TRACES_SAMPLE_RATE=2", "SENTRY_TRACES_SAMPLE_RATE"},
		{"PORT=eighty", "PORT"},
		{"SECURE_SSL_REDIRECT=sometimes", "SECURE_SSL_REDIRECT"},
		{"SENTRY_DEBUG_ROUTE=please", "SENTRY_DEBUG_ROUTE"},
		{"SENTRY_DSN=not-a-dsn", "SENTRY_DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			cmd, _, stderr := start(t, "PORT="+freePort(t), tt.env)
			if code := wait(t, cmd, 5*time.Second); code == 0 {
				t.Fatalf("exit code 0 with %s, want failure", tt.env)
			}
			msg := stderr.String()
			if !strings.Contains(msg, tt.variable) {
				t.Errorf("stderr %q does not name %s", msg, tt.variable)
			}
			if !strings.Contains(msg, "configuration: ") {
				t.Errorf("stderr %q does not say the configuration is wrong", msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") > 0 {
				t.Errorf("stderr has more than one line: %q", msg)
			}
		})
	}
}
