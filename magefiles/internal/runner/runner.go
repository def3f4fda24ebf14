// Package runner runs the child processes the targets need (go, git,
// golangci-lint, shellcheck) the way a build tool should:
//
//   - quiet on success, with the full output replayed when the child fails;
//   - live output when verbose (mage -v);
//   - arguments passed as they are, never through a shell, so "$" and
//     spaces mean nothing special;
//   - stopped with its whole process group when the context ends (Ctrl-C,
//     mage -t), so no grandchild outlives the target;
//   - every known secret masked in what is shown.
package runner

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

// DefaultStopGrace is how long a cancelled child has, by default, between
// the polite signal and the kill.
const DefaultStopGrace = 5 * time.Second

// A Cmd describes one child process.
type Cmd struct {
	Name  string    // program, looked up in PATH
	Args  []string  // arguments, passed verbatim
	Dir   string    // working directory; empty means the current one
	Env   []string  // "KEY=value" entries added to the inherited environment
	Stdin io.Reader // nil means no input
	// Stdout, when set, receives standard output instead of the runner:
	// it is then neither shown nor replayed.
	Stdout io.Writer
}

// Command returns a Cmd for name and args.
func Command(name string, args ...string) Cmd {
	return Cmd{Name: name, Args: args}
}

// String returns the command line as a user would type it.
func (c Cmd) String() string {
	parts := []string{c.Name}
	for _, a := range c.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// A Runner runs commands. The zero value is quiet and writes to os.Stdout.
type Runner struct {
	Verbose  bool             // show output live, as it comes
	Out      io.Writer        // where output is shown; nil means os.Stdout
	Redactor *redact.Redactor // secrets to mask in what is shown and returned
	// StopGrace is how long a cancelled child may take to exit after
	// SIGTERM before it is killed; zero means DefaultStopGrace.
	StopGrace time.Duration
}

// Run runs c and waits for it. Its output is shown live when r.Verbose, and
// replayed in full when it fails.
func (r *Runner) Run(ctx context.Context, c Cmd) error {
	return r.run(ctx, c)
}

// Output runs c and returns its standard output, with surrounding space
// trimmed. Standard error is treated as by Run. The output is data for the
// caller, returned as the child wrote it: masking it could corrupt it (a
// one-letter password would garble a commit hash), so a caller that shows
// it masks it.
func (r *Runner) Output(ctx context.Context, c Cmd) (string, error) {
	var stdout bytes.Buffer
	c.Stdout = &stdout
	err := r.run(ctx, c)
	return strings.TrimSpace(stdout.String()), err
}

func (r *Runner) run(ctx context.Context, c Cmd) error {
	return r.Capture(func(log io.Writer) error {
		if r.Verbose {
			fmt.Fprintf(log, "exec: %s\n", c)
		}
		cmd := exec.CommandContext(ctx, c.Name, c.Args...)
		cmd.Dir = c.Dir
		cmd.Env = append(os.Environ(), c.Env...)
		cmd.Stdin = c.Stdin
		cmd.Stdout = cmp.Or(c.Stdout, log)
		cmd.Stderr = log
		setProcessGroup(cmd)
		cmd.WaitDelay = cmp.Or(r.StopGrace, DefaultStopGrace)
		err := cmd.Run()
		if ctx.Err() != nil {
			killGroup(cmd) // grandchildren that ignored the polite signal
		}
		if err != nil {
			return failure(ctx, c, err)
		}
		return nil
	})
}

// Capture runs fn with a writer for the log of a long step (a child
// process, an image build): shown live when verbose, otherwise kept and
// replayed in full if fn fails; masked either way. fn's error is masked too.
func (r *Runner) Capture(fn func(log io.Writer) error) error {
	shown := r.Writer()
	defer func() { _ = shown.Close() }()
	if r.Verbose {
		return r.Redactor.Error(fn(shown))
	}
	var log bytes.Buffer
	err := fn(&syncWriter{w: &log})
	if err != nil {
		_, _ = shown.Write(log.Bytes())
	}
	return r.Redactor.Error(err)
}

// Writer returns a writer to r.Out (os.Stdout when nil) that masks r's
// secrets. Close it to flush a last line without a newline.
func (r *Runner) Writer() io.WriteCloser {
	return r.Redactor.Writer(cmp.Or[io.Writer](r.Out, os.Stdout))
}

// syncWriter lets a child's standard output and error share one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func failure(ctx context.Context, c Cmd, err error) error {
	var notFound *exec.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped: %w", c.Name, context.Cause(ctx))
	case errors.As(err, &notFound):
		return fmt.Errorf("%s is not installed or not in PATH: %w", c.Name, err)
	default:
		return &ExitError{Cmd: c.String(), Err: err}
	}
}

// ExitError reports a child that ran and failed.
type ExitError struct {
	Cmd string // the command line
	Err error  // usually an *exec.ExitError
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s failed: %v", e.Cmd, e.Err) }
func (e *ExitError) Unwrap() error { return e.Err }
