package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

func TestQuietOnSuccess(t *testing.T) {
	var out strings.Builder
	r := &Runner{Out: &out}
	if err := r.Run(context.Background(), Command("sh", "-c", "echo hello; echo warn >&2")); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("successful command printed %q, want nothing", out.String())
	}
}

func TestVerboseShowsOutputLive(t *testing.T) {
	var out strings.Builder
	r := &Runner{Out: &out, Verbose: true}
	if err := r.Run(context.Background(), Command("sh", "-c", "echo hello")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "exec: sh -c \"echo hello\"") || !strings.Contains(out.String(), "hello\n") {
		t.Errorf("verbose output = %q", out.String())
	}
}

func TestFailureReplaysOutputAndMasksSecrets(t *testing.T) {
	var out strings.Builder
	r := &Runner{Out: &out, Redactor: redact.New("hunter22")}
	err := r.Run(context.Background(), Command("sh", "-c", "echo step one; echo bad password hunter22 >&2; exit 3", "hunter22"))
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if strings.Contains(err.Error(), "hunter22") || strings.Contains(out.String(), "hunter22") {
		t.Errorf("secret leaked: err=%q out=%q", err, out.String())
	}
	if !strings.Contains(out.String(), "step one") || !strings.Contains(out.String(), "bad password "+redact.Mask) {
		t.Errorf("failure output not replayed: %q", out.String())
	}
	if !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error lacks the exit status: %v", err)
	}
}

func TestArgumentsAreNotExpanded(t *testing.T) {
	r := &Runner{}
	got, err := r.Output(context.Background(), Command("printf", "%s|%s", "$HOME", "a b"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "$HOME|a b" {
		t.Errorf("Output = %q, want the literal arguments", got)
	}
}

func TestOutputReturnsStdoutOnly(t *testing.T) {
	var out strings.Builder
	r := &Runner{Out: &out}
	got, err := r.Output(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo out; echo err >&2"}, Env: []string{"X=1"}})
	if err != nil || got != "out" {
		t.Errorf("Output = %q, %v; want %q", got, err, "out")
	}
}

func TestMissingProgram(t *testing.T) {
	err := (&Runner{}).Run(context.Background(), Command("no-such-program-oc"))
	if err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("err = %v, want a not-installed message", err)
	}
}

func TestCancelStopsTheWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// The shell starts a grandchild that ignores SIGTERM, then waits.
		script := `(trap "" TERM; sleep 60) & echo $! > "$1"; wait`
		done <- (&Runner{StopGrace: 200 * time.Millisecond}).Run(ctx, Command("sh", "-c", script, "sh", pidFile))
	}()
	pid := waitForPID(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("err = %v, want a stopped error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running after cancel", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitForPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if pid, err2 := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && err2 == nil {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("grandchild never started")
	return 0
}

func TestString(t *testing.T) {
	c := Command("go", "build", "-ldflags", "-X a=b c", "")
	if got, want := c.String(), `go build -ldflags "-X a=b c" ""`; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
}

func TestOutputIsDataNotMasked(t *testing.T) {
	r := &Runner{Redactor: redact.New("a")}
	got, err := r.Output(context.Background(), Command("echo", "abcabc"))
	if err != nil || got != "abcabc" {
		t.Errorf("Output = %q, %v; want the child's output untouched", got, err)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tail := &Tail{Max: 9}
	for _, s := range []string{"one\n", "two\n", "three\n"} {
		_, _ = tail.Write([]byte(s))
	}
	if got := tail.Lines(5); got != "wo\nthree" {
		t.Errorf("Lines(5) = %q, want the last 10 bytes", got)
	}
	if got := tail.Lines(1); got != "three" {
		t.Errorf("Lines(1) = %q", got)
	}
	if got := (&Tail{}).Lines(3); got != "" {
		t.Errorf("an empty tail gives %q", got)
	}
}

func TestCaptureReplaysOnlyOnFailure(t *testing.T) {
	var out strings.Builder
	r := &Runner{Out: &out, Redactor: redact.New("s3cret")}
	_ = r.Capture(func(log io.Writer) error { _, _ = io.WriteString(log, "fine\n"); return nil })
	if out.Len() != 0 {
		t.Errorf("success printed %q", out.String())
	}
	err := r.Capture(func(log io.Writer) error {
		_, _ = io.WriteString(log, "step s3cret\n")
		return errors.New("failed with s3cret")
	})
	if out.String() != "step "+redact.Mask+"\n" || err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("failure printed %q and returned %v", out.String(), err)
	}
}
