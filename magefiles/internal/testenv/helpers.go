package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"
)

// Unique returns prefix followed by random hex digits: a name no other
// test, running now or earlier on the same engine or registry, has used.
func Unique(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// RemoveWhenDone removes the image references refs from the engine when
// the test ends. It removes names, not image IDs, so an image another test
// also tagged stays. Empty references are skipped.
func RemoveWhenDone(t testing.TB, raw *client.Client, refs ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, ref := range refs {
			if ref != "" {
				_, _ = raw.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true})
			}
		}
	})
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Buffer collects output that several goroutines write, such as a child's
// standard output and error. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
