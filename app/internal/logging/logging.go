// Package logging buffers the site's log output, so that writing one access
// log record per request does not cost a system call per request.
package logging

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// BufferSize is the size of a Buffer; a full buffer is written at once.
const BufferSize = 64 << 10

// Buffer is an io.Writer that collects writes in memory and passes them to
// the underlying writer when the buffer fills, every flush interval, and on
// Close. Each Write is passed on whole, so log records are never split.
// It is safe for concurrent use.
type Buffer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closed bool

	stop chan struct{}
	done chan struct{}
}

// NewBuffer returns a Buffer writing to w at least every interval.
// Call Close to flush the last writes and stop the timer.
func NewBuffer(w io.Writer, interval time.Duration) *Buffer {
	b := &Buffer{
		w:    bufio.NewWriterSize(w, BufferSize),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go b.flushEvery(interval)
	return b
}

// flushEvery flushes the buffer every interval until Close.
func (b *Buffer) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush() // a log that cannot be written has nowhere to report it
		case <-b.stop:
			return
		}
	}
}

// Write buffers p, or writes it through once the Buffer is closed.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w.Available() < len(p) {
		// Keep p whole: flush what is buffered first.
		if err := b.w.Flush(); err != nil {
			return 0, err
		}
	}
	n, err := b.w.Write(p)
	if err == nil && b.closed {
		err = b.w.Flush()
	}
	return n, err
}

// Flush writes the buffered data to the underlying writer.
func (b *Buffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the timer and flushes the buffer. Later writes go straight to
// the underlying writer.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return b.Flush()
}
