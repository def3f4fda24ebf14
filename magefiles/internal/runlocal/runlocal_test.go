package runlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// fakeEngine plays the engine's part: it records what Run asks, fails where
// told, and lets the test end the container.
type fakeEngine struct {
	mu        sync.Mutex
	calls     []string
	spec      docker.ContainerSpec
	createErr error
	startErr  error
	removeErr error
	removeCtx error // ctx.Err() of the context RemoveContainer got
	exit      chan int
	removed   chan struct{} // closed by RemoveContainer: the log stream ends
	logs      string
	// lastWords, when set, makes the log stream outlast the container:
	// it ends only with its context, and writes lastWords as it does.
	lastWords string
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{exit: make(chan int, 1), removed: make(chan struct{})}
}

func (f *fakeEngine) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeEngine) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func (f *fakeEngine) CreateContainer(ctx context.Context, spec docker.ContainerSpec) (string, error) {
	f.record("create")
	if ctx.Err() != nil {
		return "", ctx.Err() // as the client does: the engine may have made it all the same
	}
	f.spec = spec
	if f.createErr != nil {
		return "", f.createErr
	}
	return "id-1", nil
}

func (f *fakeEngine) StartContainer(context.Context, string) error {
	f.record("start")
	return f.startErr
}

func (f *fakeEngine) FollowLogs(ctx context.Context, _ string, stdout, _ io.Writer) error {
	_, _ = io.WriteString(stdout, f.logs)
	if f.lastWords != "" {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(stdout, f.lastWords)
		return nil
	}
	select {
	case <-ctx.Done():
	case <-f.removed:
	}
	return nil
}

func (f *fakeEngine) WaitContainer(ctx context.Context, _ string) (int, error) {
	select {
	case code := <-f.exit:
		return code, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *fakeEngine) RemoveContainer(ctx context.Context, _ string, _ time.Duration) error {
	f.record("remove")
	f.mu.Lock()
	f.removeCtx = ctx.Err()
	f.mu.Unlock()
	close(f.removed)
	return f.removeErr
}

// site is a stand-in for the container's published port.
func site(t *testing.T, status int) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	n, _ := strconv.Atoi(port)
	return n
}

func TestRunUntilInterrupted(t *testing.T) {
	eng := newFakeEngine()
	port := site(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	var ready string
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, eng, Options{
			Image: "oc-lettings:abc", Port: port, Env: []string{"SENTRY_ENVIRONMENT=local"},
			Out: io.Discard, Err: io.Discard,
			Ready: func(url string) { ready = url; cancel() }, // Ctrl-C as soon as it is up
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an interrupted run returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the interrupt")
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/", port); ready != want {
		t.Errorf("ready at %q, want %q", ready, want)
	}
	if eng.Calls() != "create start remove" {
		t.Errorf("calls %q", eng.Calls())
	}
	if eng.removeCtx != nil {
		t.Errorf("the container was removed with an ended context (%v): it would be left behind", eng.removeCtx)
	}
	s := eng.spec
	if s.Image != "oc-lettings:abc" || s.Port != port || !strings.HasPrefix(s.Name, "oc-lettings-local-") || s.Labels[Label] != "local" {
		t.Errorf("spec %+v", s)
	}
	if strings.Join(s.Env, " ") != fmt.Sprintf("PORT=%d SENTRY_ENVIRONMENT=local", port) {
		t.Errorf("env %q", s.Env)
	}
}

func TestRunCleansUpOnEveryFailure(t *testing.T) {
	healthy := site(t, http.StatusOK)
	unhealthy := site(t, http.StatusServiceUnavailable)
	tests := []struct {
		name      string
		port      int
		setup     func(*fakeEngine)
		wantCalls string
		wantErr   string
		wantType  any
	}{
		{
			name:      "the image is missing",
			port:      healthy,
			setup:     func(f *fakeEngine) { f.createErr = &docker.NotFoundError{Ref: "oc-lettings:abc"} },
			wantCalls: "create",
			wantErr:   "there is no image oc-lettings:abc",
			wantType:  new(*docker.NotFoundError),
		},
		{
			name: "the port is taken",
			port: 8000,
			setup: func(f *fakeEngine) {
				f.startErr = errors.New("Bind for 127.0.0.1:8000 failed: port is already allocated")
			},
			wantCalls: "create start remove",
			wantErr:   "port 8000 on 127.0.0.1 is already in use: stop what listens there, or choose another port, e.g. PORT=8001 go tool mage runLocal",
			wantType:  new(*PortInUseError),
		},
		{
			name:      "the start fails",
			port:      healthy,
			setup:     func(f *fakeEngine) { f.startErr = errors.New("OCI runtime create failed") },
			wantCalls: "create start remove",
			wantErr:   "OCI runtime create failed",
		},
		{
			name:      "the site exits before it answers",
			port:      unhealthy,
			setup:     func(f *fakeEngine) { f.logs = "oc-lettings: configuration: SENTRY_DSN is invalid\n"; f.exit <- 1 },
			wantCalls: "create start remove",
			wantErr:   "the site stopped with exit code 1 before answering /healthz; its log is above",
		},
		{
			name:      "the site never answers",
			port:      unhealthy,
			wantCalls: "create start remove",
			wantErr:   "did not answer http://127.0.0.1:",
		},
		{
			name: "the container cannot be removed",
			port: healthy,
			setup: func(f *fakeEngine) {
				f.startErr = errors.New("start failed")
				f.removeErr = errors.New("engine gone")
			},
			wantCalls: "create start remove",
			wantErr:   "could not be removed (engine gone): remove it with docker rm -f oc-lettings-local-",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newFakeEngine()
			if tt.setup != nil {
				tt.setup(eng)
			}
			var out strings.Builder
			err := Run(context.Background(), eng, Options{
				Image: "oc-lettings:abc", Port: tt.port, Out: &out, Err: io.Discard,
				HealthTimeout: 300 * time.Millisecond,
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantType != nil && !errors.As(err, tt.wantType) {
				t.Errorf("%T is not %T", err, tt.wantType)
			}
			if eng.Calls() != tt.wantCalls {
				t.Errorf("calls %q, want %q", eng.Calls(), tt.wantCalls)
			}
			if !strings.Contains(out.String(), eng.logs) {
				t.Errorf("the site's log was not shown: %q", out.String())
			}
		})
	}
}

func TestRunInterruptedBeforeCreateStillCleansUp(t *testing.T) {
	eng := newFakeEngine()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C just before the container is created
	if err := Run(ctx, eng, Options{Image: "x", Port: site(t, http.StatusOK), Out: io.Discard, Err: io.Discard}); err != nil {
		t.Errorf("an interrupted run returned %v", err)
	}
	if eng.Calls() != "create remove" {
		t.Errorf("calls %q: a container made during Ctrl-C is not removed", eng.Calls())
	}
}

func TestRunReportsASiteThatStops(t *testing.T) {
	eng := newFakeEngine()
	port := site(t, http.StatusOK)
	err := Run(context.Background(), eng, Options{
		Image: "x", Port: port, Out: io.Discard, Err: io.Discard,
		Ready: func(string) { eng.exit <- 2 },
	})
	if err == nil || err.Error() != "the site stopped with exit code 2 while running; its log is above" {
		t.Errorf("error %v", err)
	}
	if eng.Calls() != "create start remove" {
		t.Errorf("calls %q", eng.Calls())
	}
}

func TestRunWritesNothingAfterItReturns(t *testing.T) {
	eng := newFakeEngine()
	eng.lastWords = "the log stream's last words\n"
	var out testenv.Buffer
	err := Run(context.Background(), eng, Options{
		Image: "x", Port: site(t, http.StatusOK), Out: &out, Err: io.Discard,
		Ready: func(string) { eng.exit <- 0 },
	})
	if err == nil {
		t.Fatal("a site that stopped gave no error")
	}
	returned := out.String()
	time.Sleep(100 * time.Millisecond)
	if later := out.String(); later != returned {
		t.Errorf("Run wrote %q after it returned", strings.TrimPrefix(later, returned))
	}
	if !strings.HasSuffix(returned, eng.lastWords) {
		t.Errorf("the log's last words were not shown before Run returned: %q", returned)
	}
}

func TestSiteEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, ""},
		{map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/1", "DOCKERHUB_PASS": "pw", "PORT": "9000"}, "SENTRY_DSN=https://k@o1.ingest.sentry.io/1"},
		{map[string]string{"SENTRY_DSN": " ", "SENTRY_ENVIRONMENT": "local"}, "SENTRY_ENVIRONMENT=local"},
		{map[string]string{"SENTRY_DSN": "https://k@o1.ingest.sentry.io/1", "SENTRY_ENVIRONMENT": "local", "HEROKU_API_KEY": "k"}, "SENTRY_DSN=https://k@o1.ingest.sentry.io/1 SENTRY_ENVIRONMENT=local"},
	}
	for _, tt := range tests {
		if got := strings.Join(SiteEnv(settings.Map(tt.env)), " "); got != tt.want {
			t.Errorf("SiteEnv(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestCheckPort(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	err = CheckPort(context.Background(), port)
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), fmt.Sprintf("port %d on 127.0.0.1 is already in use", port)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("PORT=%d", port+1)) {
		t.Errorf("busy port: %v", err)
	}
	_ = l.Close()
	if err := CheckPort(context.Background(), port); err != nil {
		t.Errorf("free port: %v", err)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]int{"8000": 8000, "1": 1, "65535": 65535, "0": 0, "65536": 0, "http": 0, "": 0, "-1": 0} {
		got, err := ParsePort(in)
		if got != want || (err != nil) != (want == 0) {
			t.Errorf("ParsePort(%q) = %d, %v", in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "PORT=") {
			t.Errorf("message %q does not say how to fix it", err)
		}
	}
}

// TestWithParent starts this test binary as an orphan-to-be: a shell starts
// it in the background and exits, and it must notice.
func TestWithParent(t *testing.T) {
	if file := os.Getenv("RUNLOCAL_PARENT_PROBE"); file != "" {
		ctx, stop := WithParent(context.Background())
		defer stop()
		select {
		case <-ctx.Done():
			_ = os.WriteFile(file, []byte(context.Cause(ctx).Error()), 0o600)
		case <-time.After(10 * time.Second):
		}
		return
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	file := filepath.Join(t.TempDir(), "probe")
	sh := exec.Command("sh", "-c", `"$0" -test.run='^TestWithParent$' >/dev/null 2>&1 & sleep 0.5`, os.Args[0])
	sh.Env = append(os.Environ(), "RUNLOCAL_PARENT_PROBE="+file)
	if err := sh.Run(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := os.ReadFile(file); err == nil {
			if string(got) != ErrParentGone.Error() {
				t.Errorf("cause %q, want ErrParentGone", got)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the orphaned process did not notice that its parent had gone")
}
