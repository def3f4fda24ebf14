package runner

import (
	"cmp"
	"strings"
	"sync"
)

// Tail keeps the end of what is written to it, for an error message: the
// last lines a server logged, or a release phase printed. The zero value
// keeps 64 KiB. It is safe for concurrent use.
type Tail struct {
	Max int // bytes kept; zero means 64 KiB

	mu  sync.Mutex
	buf []byte
}

// Write keeps p, dropping what no longer fits.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - cmp.Or(max(t.Max, 0), 64<<10); over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

// Lines returns the last n lines kept, without the final newline.
func (t *Tail) Lines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.buf), "\r\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
