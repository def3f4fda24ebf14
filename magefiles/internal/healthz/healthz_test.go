package healthz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
)

func TestWaitPollsThroughFailuresUntilReady(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("Cache-Control = %q, want no-cache", r.Header.Get("Cache-Control"))
		}
		switch calls.Add(1) {
		case 1:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case 2:
			_, _ = fmt.Fprint(w, "<html>not JSON</html>")
		case 3:
			_, _ = fmt.Fprint(w, `{"status":"ok","version":"v1","commit":"old"}`)
		default:
			_, _ = fmt.Fprint(w, `{"status":"ok","version":"v2","commit":"new"}`)
		}
	}))
	defer srv.Close()

	h, err := Wait(context.Background(), srv.URL+"/healthz", time.Millisecond, func(h buildinfo.Health) bool {
		return h.Commit == "new"
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != "v2" || calls.Load() != 4 {
		t.Errorf("Wait = %+v after %d calls, want v2 after 4", h, calls.Load())
	}
}

func TestWaitStopsWithTheCauseAndTheLastAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, `{"status":"starting","version":"v1","commit":"abc"}`)
	}))
	defer srv.Close()
	stopped := errors.New("the container stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(stopped) })

	_, err := Wait(ctx, srv.URL, time.Millisecond, Up)
	if !errors.Is(err, stopped) {
		t.Fatalf("err = %v, want the context's cause", err)
	}
	if want := `status "starting", version "v1", commit "abc"`; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want the last answer %s", err, want)
	}
}

func TestWaitReportsWhatFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	_, err := Wait(ctx, srv.URL, time.Millisecond, Up)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "HTTP 502 Bad Gateway") {
		t.Errorf("err = %v, want the deadline and the last status", err)
	}
	if _, err := Get(context.Background(), "://bad"); err == nil {
		t.Error("Get of a malformed URL succeeded")
	}
	srv.Close()
	if _, err := Get(context.Background(), srv.URL); err == nil {
		t.Error("Get of a closed server succeeded")
	}
}

func TestUp(t *testing.T) {
	for _, tt := range []struct {
		status string
		want   bool
	}{{"ok", true}, {"starting", false}, {"", false}} {
		if got := Up(buildinfo.Health{Status: tt.status}); got != tt.want {
			t.Errorf("Up(status %q) = %v, want %v", tt.status, got, tt.want)
		}
	}
}
