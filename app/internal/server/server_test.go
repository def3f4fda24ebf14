package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// slowHandler answers /slow only once release is closed, after signalling
// entered; any other path at once.
func slowHandler(t *testing.T, entered chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := "ok"
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
			body = "finished after shutdown began"
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Errorf("write %s response: %v", r.URL.Path, err)
		}
	})
}

type result struct {
	status int
	body   string
	err    error
}

func fetch(url string) result {
	res, err := http.Get(url)
	if err != nil {
		return result{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return result{status: res.StatusCode, body: string(body), err: err}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitRefused waits until nothing accepts connections on addr.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGracefulShutdownOnSIGTERM sends SIGTERM to the test process itself,
// as Heroku does to a dyno, while a slow request is in flight.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()

	entered, release := make(chan struct{}), make(chan struct{})
	srv := New("", slowHandler(t, entered, release), discardLogger())
	ln := listen(t)
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	slow := make(chan result, 1)
	go func() { slow <- fetch("http://" + addr + "/slow") }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request did not start")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM not delivered")
	}
	waitRefused(t, addr)
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}

	close(release)
	res := <-slow
	if res.err != nil || res.status != http.StatusOK || res.body != "finished after shutdown began" {
		t.Errorf("in-flight request: %d %q %v, want it to complete", res.status, res.body, res.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after a graceful shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
}

func TestShutdownGivesUpAfterDrainTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := New("", slowHandler(t, entered, release), discardLogger())
	srv.DrainTimeout = 100 * time.Millisecond
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	slow := make(chan result, 1)
	go func() { slow <- fetch("http://" + ln.Addr().String() + "/slow") }()
	<-entered

	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want a drain deadline error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Serve took %v to give up, want about 100ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not give up after its drain timeout")
	}
	if res := <-slow; res.err == nil {
		t.Errorf("hung request got %d %q, want its connection closed", res.status, res.body)
	}
}

func TestRunReportsListenError(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	srv := New(ln.Addr().String(), http.NotFoundHandler(), discardLogger())
	err := srv.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a busy port = %v, want address already in use", err)
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	srv := New(addr, slowHandler(t, nil, nil), slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	var res result
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if res = fetch("http://" + addr + "/"); res.err == nil {
			break
		}
	}
	if res.err != nil || res.body != "ok" {
		t.Fatalf("GET /: %v %q", res.err, res.body)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Run = %v, want nil after cancellation", err)
	}
	for _, msg := range []string{`"msg":"listening"`, `"msg":"shutting down","drain_timeout":"20s"`, `"msg":"stopped"`} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("logs lack %s:\n%s", msg, logs.String())
		}
	}
}

func TestLimits(t *testing.T) {
	srv := New(":8000", http.NotFoundHandler(), discardLogger())
	h := srv.http
	for name, got := range map[string]time.Duration{
		"ReadHeaderTimeout": h.ReadHeaderTimeout,
		"ReadTimeout":       h.ReadTimeout,
		"WriteTimeout":      h.WriteTimeout,
		"IdleTimeout":       h.IdleTimeout,
		"DrainTimeout":      srv.DrainTimeout,
	} {
		if got <= 0 {
			t.Errorf("%s = %v, want a limit", name, got)
		}
	}
	if srv.DrainTimeout > 25*time.Second {
		t.Errorf("DrainTimeout %v leaves too little of Heroku's 30s", srv.DrainTimeout)
	}
	if h.MaxHeaderBytes <= 0 || h.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d", h.MaxHeaderBytes)
	}
}

func TestOversizedHeadersRejected(t *testing.T) {
	srv := New("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), discardLogger())
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve = %v", err)
		}
	}()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", MaxHeaderBytes+8<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", res.StatusCode)
	}
}
