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
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

// A Cmd describes one child process.
type Cmd struct {
	Name string   // program, looked up in PATH
	Args []string // arguments, passed verbatim
	Dir  string   // working directory; empty means the current one
	Env  []string // "KEY=value" entries added to the inherited environment
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
	// SIGTERM before it is killed; zero means 5 seconds.
	StopGrace time.Duration
}

// Output runs c and returns its standard output, space trimmed; standard error
// is treated as by Run. The output is data, returned unmasked: masking could
// corrupt it (a one-letter password would garble a commit hash).
func (r *Runner) Output(ctx context.Context, c Cmd) (string, error) {
	var stdout bytes.Buffer
	c.Stdout = &stdout
	err := r.Run(ctx, c)
	return strings.TrimSpace(stdout.String()), err
}

// Run runs c, with no input, and waits for it. Its output is shown live when
// r.Verbose, and replayed in full when it fails.
func (r *Runner) Run(ctx context.Context, c Cmd) error {
	return r.Capture(func(log io.Writer) error {
		if r.Verbose {
			fmt.Fprintf(log, "exec: %s\n", c)
		}
		cmd := exec.CommandContext(ctx, c.Name, c.Args...)
		cmd.Dir = c.Dir
		cmd.Env = append(os.Environ(), c.Env...)
		cmd.Stdout = cmp.Or(c.Stdout, log)
		cmd.Stderr = log
		killGroup := setProcessGroup(cmd)
		cmd.WaitDelay = cmp.Or(r.StopGrace, 5*time.Second)
		err := cmd.Run()
		if ctx.Err() != nil {
			killGroup() // grandchildren that ignored the polite signal
		}
		_, notFound := errors.AsType[*exec.Error](err)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("%s: stopped: %w", c.Name, context.Cause(ctx))
		case notFound:
			return fmt.Errorf("%s is not installed or not in PATH: %w", c.Name, err)
		}
		return &ExitError{Cmd: c.String(), Err: err}
	})
}

// Capture runs fn with a writer for the log of a long step (a child
// process, an image build): shown live when verbose, otherwise kept and
// replayed in full if fn fails; masked either way. fn's error is masked too.
// fn writes to log from one goroutine at a time: os/exec does so when a
// child's standard output and error share one writer.
func (r *Runner) Capture(fn func(log io.Writer) error) error {
	shown := r.Writer()
	defer func() { _ = shown.Close() }()
	if r.Verbose {
		return r.Redactor.Error(fn(shown))
	}
	var log bytes.Buffer
	err := fn(&log)
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

// ExitError reports a child that ran and failed.
type ExitError struct {
	Cmd string // the command line
	Err error  // usually an *exec.ExitError
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s failed: %v", e.Cmd, e.Err) }
func (e *ExitError) Unwrap() error { return e.Err }
