// Package redact hides secret values in text before it is shown to anyone.
//
// The pipeline handles a Docker Hub password, a Heroku API key and a Sentry
// token. None of them may reach a terminal, a CI log or an error message, even
// when a child process or a remote API echoes one back. A Redactor replaces
// every occurrence of each secret with a fixed mask.
package redact

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"sync"
)

// Mask is what a secret is replaced with.
const Mask = "********"

// A Redactor replaces known secret values with Mask.
// The zero value and a nil *Redactor redact nothing.
type Redactor struct {
	secrets []string // longest first, so a secret containing another is masked whole
}

// New returns a Redactor for the given secret values. Empty values are ignored.
func New(secrets ...string) *Redactor {
	s := slices.DeleteFunc(slices.Clone(secrets), func(v string) bool { return v == "" })
	slices.SortFunc(s, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return &Redactor{secrets: slices.Compact(s)}
}

// XML returns a Redactor that also hides the secrets as XML escapes them,
// for a file such as junit.xml.
func (r *Redactor) XML() *Redactor {
	if r == nil {
		return nil
	}
	all := slices.Clone(r.secrets)
	for _, s := range r.secrets {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
		all = append(all, b.String())
	}
	return New(all...)
}

// String returns s with every secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Mask)
	}
	return s
}

// Error returns an error whose message is err's message with every secret
// replaced by Mask. errors.Is and errors.As still see err.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	if clean := r.String(err.Error()); clean != err.Error() {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Writer returns a writer that redacts what passes through it to w.
//
// It holds back an incomplete last line, so a secret split across two writes
// is still caught; Close writes what is held back. It is safe for concurrent
// use, so a child's stdout and stderr may share one.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return &writer{r: r, w: w}
}

type writer struct {
	mu  sync.Mutex
	r   *Redactor
	w   io.Writer
	buf []byte
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	n := 0 // how much of the buffer can go out now
	if end := bytes.LastIndexAny(w.buf, "\n\r"); end >= 0 {
		n = end + 1
	} else if len(w.buf) >= 64<<10 {
		// A very long line: redact it now and hold back only what could be
		// the start of a secret that the next write completes.
		w.buf = append(w.buf[:0], w.r.String(string(w.buf))...)
		n = len(w.buf)
		if w.r != nil && len(w.r.secrets) > 0 {
			n -= len(w.r.secrets[0]) - 1 // the longest
		}
	}
	if err := w.flush(n); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes any incomplete last line. It does not close the underlying writer.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush(len(w.buf))
}

func (w *writer) flush(n int) error {
	if n == 0 {
		return nil
	}
	_, err := io.WriteString(w.w, w.r.String(string(w.buf[:n])))
	w.buf = append(w.buf[:0], w.buf[n:]...)
	return err
}
