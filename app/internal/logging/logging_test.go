package logging

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, recording each
// write it receives.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestBufferHoldsWritesUntilFlush(t *testing.T) {
	var out syncBuffer
	b := NewBuffer(&out, time.Hour)
	defer b.Close()
	for range 100 {
		if _, err := b.Write([]byte("record\n")); err != nil {
			t.Fatal(err)
		}
	}
	if got := out.String(); got != "" {
		t.Fatalf("written before a flush: %q", got)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != strings.Repeat("record\n", 100) {
		t.Errorf("after Flush: %d bytes, want 700", len(got))
	}
	if out.writes != 1 {
		t.Errorf("%d writes to the underlying writer, want 1", out.writes)
	}
}

func TestBufferFlushesOnInterval(t *testing.T) {
	var out syncBuffer
	b := NewBuffer(&out, 10*time.Millisecond)
	defer b.Close()
	if _, err := b.Write([]byte("record\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("not flushed after 5s with a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBufferCloseFlushesAndWritesThrough(t *testing.T) {
	var out syncBuffer
	b := NewBuffer(&out, time.Hour)
	if _, err := b.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "before\n" {
		t.Fatalf("after Close: %q", got)
	}
	if _, err := b.Write([]byte("after\n")); err != nil {
		t.Fatalf("write after Close: %v", err)
	}
	if got := out.String(); got != "before\nafter\n" {
		t.Errorf("write after Close not passed on: %q", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBufferKeepsRecordsWhole(t *testing.T) {
	var out syncBuffer
	b := NewBuffer(&out, time.Hour)
	defer b.Close()
	record := bytes.Repeat([]byte("x"), BufferSize/3)
	record[len(record)-1] = '\n'
	for range 10 {
		if _, err := b.Write(record); err != nil {
			t.Fatal(err)
		}
	}
	b.Flush()
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if line != "" && len(line) != len(record) {
			t.Fatalf("record split: line of %d bytes, want %d", len(line), len(record))
		}
	}
	if out.writes < 3 {
		t.Errorf("%d writes: a full buffer should have been written", out.writes)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var out syncBuffer
	b := NewBuffer(&out, time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if _, err := b.Write([]byte("0123456789\n")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "0123456789\n"); got != 8000 {
		t.Errorf("%d records, want 8000", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestBufferReportsWriteErrors(t *testing.T) {
	b := NewBuffer(failingWriter{}, time.Hour)
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatalf("Write = %v, want the record buffered and the error reported by Close", err)
	}
	if err := b.Close(); err == nil {
		t.Error("Close succeeded over a failing writer")
	}
}
