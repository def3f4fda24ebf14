package runlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/testenv"
)

// fakeEngine plays the engine's part: it records what runLocal asks, fails
// where told, and lets the test end the container.
type fakeEngine struct {
	local     bool                         // IsLocal's answer
	found     map[string]map[string]string // what Containers finds
	createErr error
	startErr  error
	removeErr error
	listErr   error // what Containers returns
	leftErr   error // what removing a leftover returns
	logs      string
	// lastWords, when set, makes the log stream outlast the container:
	// it ends only with its context, and writes lastWords as it does.
	lastWords string
	exit      chan int      // the container's exit code, when the test ends it
	removed   chan struct{} // closed when the container is removed: the log stream ends

	mu        sync.Mutex
	calls     []string
	listed    map[string]string // the labels Containers was asked for
	spec      docker.ContainerSpec
	removeCtx error // ctx.Err() of the context the container was removed with
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

func (f *fakeEngine) IsLocal() bool { return f.local }

func (f *fakeEngine) Containers(_ context.Context, labels map[string]string) (map[string]map[string]string, error) {
	f.record("list")
	f.listed = labels
	return f.found, f.listErr
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

func (f *fakeEngine) StartContainer(ctx context.Context, _ string) error {
	f.record("start")
	if ctx.Err() != nil {
		return ctx.Err()
	}
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

func (f *fakeEngine) RemoveContainer(ctx context.Context, id string, _ time.Duration) error {
	f.record("remove " + id)
	if id != "id-1" {
		return f.leftErr // a leftover
	}
	f.mu.Lock()
	f.removeCtx = ctx.Err()
	f.mu.Unlock()
	close(f.removed)
	return f.removeErr
}

// site is a stand-in for the container's published port: its /healthz
// answers with status, and the site's JSON when that is 200.
func site(t *testing.T, status int) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(status)
			if status == http.StatusOK {
				_, _ = io.WriteString(w, `{"status":"ok","version":"dev","commit":"unknown"}`)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// spec is what Main would run on port.
func spec(port int) docker.ContainerSpec {
	return docker.ContainerSpec{Name: "oc-lettings-local-test", Image: "oc-lettings:abc", Port: port}
}

// deadPID returns the ID of a process that has exited: this test binary,
// run with no test. Built with -race, it would sleep a second before
// exiting (the race detector's atexit_sleep_ms), which this child need not.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestMainRunsUntilInterrupted(t *testing.T) {
	eng := newFakeEngine() // not local: the stand-in site holds the port
	port := site(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	var ready string
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, eng, Options{
			Port: strconv.Itoa(port), Env: []string{"SENTRY_ENVIRONMENT=local"},
			Image: func(context.Context) (string, error) { eng.record("image"); return "oc-lettings:abc", nil },
			Out:   io.Discard, Err: io.Discard,
			ready: func(url string) { ready = url; cancel() }, // Ctrl-C as soon as it is up
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an interrupted run returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after the interrupt")
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/", port); ready != want {
		t.Errorf("ready at %q, want %q", ready, want)
	}
	if eng.Calls() != "list image create start remove id-1" {
		t.Errorf("calls %q", eng.Calls())
	}
	if eng.removeCtx != nil {
		t.Errorf("the container was removed with an ended context (%v): it would be left behind", eng.removeCtx)
	}
	here, err := checkout()
	if err != nil {
		t.Fatal(err)
	}
	s := eng.spec
	wantLabels := map[string]string{Label: "local", CheckoutLabel: here, OwnerLabel: strconv.Itoa(os.Getpid()), PortLabel: strconv.Itoa(port)}
	if s.Image != "oc-lettings:abc" || s.Port != port || !strings.HasPrefix(s.Name, "oc-lettings-local-") || !maps.Equal(s.Labels, wantLabels) {
		t.Errorf("spec %+v, want labels %v", s, wantLabels)
	}
	if strings.Join(s.Env, " ") != fmt.Sprintf("PORT=%d SENTRY_ENVIRONMENT=local", port) {
		t.Errorf("env %q", s.Env)
	}
}

func TestMainRemovesWhatAnEarlierRunLeftBehind(t *testing.T) {
	eng := newFakeEngine()
	eng.local = true
	eng.found = map[string]map[string]string{
		// killed with kill -9: its runLocal has gone
		"oc-lettings-local-dead": {OwnerLabel: strconv.Itoa(deadPID(t)), PortLabel: "8000"},
		// another runLocal of this checkout, still running on another port
		"oc-lettings-local-live": {OwnerLabel: strconv.Itoa(os.Getpid()), PortLabel: "8001"},
	}
	var out strings.Builder
	stop := errors.New("stop here")
	err := Main(context.Background(), eng, Options{
		Port:  strconv.Itoa(testenv.FreePort(t)),
		Image: func(context.Context) (string, error) { eng.record("image"); return "", stop },
		Out:   &out, Err: io.Discard,
	})
	if !errors.Is(err, stop) {
		t.Fatalf("error %v", err)
	}
	if got, want := eng.Calls(), "list remove oc-lettings-local-dead image"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	here, _ := checkout()
	if want := map[string]string{Label: "local", CheckoutLabel: here}; !maps.Equal(eng.listed, want) {
		t.Errorf("listed the containers labelled %v, want %v: other checkouts' are not ours", eng.listed, want)
	}
	want := "removing container oc-lettings-local-dead, left running by an earlier runLocal of this checkout (it held port 8000)\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestMainStopsWhenLeftoversCannotBeRemoved(t *testing.T) {
	dead := map[string]map[string]string{
		"oc-lettings-local-dead": {OwnerLabel: strconv.Itoa(deadPID(t)), PortLabel: "8000"},
	}
	for _, tt := range []struct {
		name string
		set  func(*fakeEngine)
		want string
	}{
		{
			"the list fails", func(f *fakeEngine) { f.listErr = errors.New("engine gone") },
			"looking for containers left behind by earlier runs: engine gone",
		},
		{
			"the removal fails", func(f *fakeEngine) { f.found, f.leftErr = dead, errors.New("engine gone") },
			"engine gone: remove it with docker rm -f oc-lettings-local-dead",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eng := newFakeEngine()
			tt.set(eng)
			err := Main(context.Background(), eng, Options{
				Port:  strconv.Itoa(testenv.FreePort(t)),
				Image: func(context.Context) (string, error) { eng.record("image"); return "x", nil },
				Out:   io.Discard, Err: io.Discard,
			})
			if err == nil || err.Error() != tt.want || strings.Contains(eng.Calls(), "image") {
				t.Errorf("error %v after calls %q, want %q before the image is got", err, eng.Calls(), tt.want)
			}
		})
	}
}

func TestMainRefusesAPortThatIsNotANumber(t *testing.T) {
	eng := newFakeEngine()
	err := Main(context.Background(), eng, Options{Port: "http", Out: io.Discard, Err: io.Discard})
	want := `PORT="http" is not a port number: set it to a number between 1 and 65535`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if eng.Calls() != "" {
		t.Errorf("calls %q, want none", eng.Calls())
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRunPrintsTheURL(t *testing.T) {
	eng := newFakeEngine()
	port := site(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testenv.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "is running at") {
			cancel() // Ctrl-C once the URL is shown
		}
		return out.Write(p)
	})
	if err := run(ctx, eng, spec(port), Options{Out: w, Err: io.Discard}); err != nil {
		t.Fatalf("an interrupted run returned %v", err)
	}
	want := fmt.Sprintf("OC Lettings is running at http://127.0.0.1:%d/ (Ctrl-C stops and removes the container)\n", port)
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestMainChecksThePortBeforeGettingTheImage(t *testing.T) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port
	eng := newFakeEngine()
	eng.local = true
	err = Main(context.Background(), eng, Options{
		Port:  strconv.Itoa(port),
		Image: func(context.Context) (string, error) { eng.record("image"); return "x", nil },
		Out:   io.Discard, Err: io.Discard,
	})
	var inUse *PortInUseError
	want := fmt.Sprintf("port %d on 127.0.0.1 is already in use: stop what listens there, or choose another port, e.g. PORT=%d", port, port+1)
	if !errors.As(err, &inUse) || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if eng.Calls() != "list" {
		t.Errorf("calls %q: the image was got, or a container made, for a port that is taken", eng.Calls())
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
			setup:     func(f *fakeEngine) { f.createErr = &registry.NotFoundError{Ref: "oc-lettings:abc"} },
			wantCalls: "create",
			wantErr:   "there is no image oc-lettings:abc",
			wantType:  new(*registry.NotFoundError),
		},
		{
			name: "the port is taken",
			port: 8000,
			setup: func(f *fakeEngine) {
				f.startErr = errors.New("Bind for 127.0.0.1:8000 failed: port is already allocated")
			},
			wantCalls: "create start remove id-1",
			wantErr:   "port 8000 on 127.0.0.1 is already in use: stop what listens there, or choose another port, e.g. PORT=8001",
			wantType:  new(*PortInUseError),
		},
		{
			name:      "the start fails",
			port:      healthy,
			setup:     func(f *fakeEngine) { f.startErr = errors.New("OCI runtime create failed") },
			wantCalls: "create start remove id-1",
			wantErr:   "OCI runtime create failed",
		},
		{
			name:      "the site exits before it answers",
			port:      unhealthy,
			setup:     func(f *fakeEngine) { f.logs = "oc-lettings: configuration: SENTRY_DSN is invalid\n"; f.exit <- 1 },
			wantCalls: "create start remove id-1",
			wantErr:   "the site stopped with exit code 1 (last answer from http://127.0.0.1:",
		},
		{
			name:      "the site never answers",
			port:      unhealthy,
			wantCalls: "create start remove id-1",
			wantErr:   "the site did not answer within 300ms (last answer from http://127.0.0.1:" + strconv.Itoa(unhealthy) + "/healthz: HTTP 503 Service Unavailable); its log is above",
		},
		{
			name: "the container cannot be removed",
			port: healthy,
			setup: func(f *fakeEngine) {
				f.startErr = errors.New("start failed")
				f.removeErr = errors.New("engine gone")
			},
			wantCalls: "create start remove id-1",
			wantErr:   "the container oc-lettings-local-test could not be removed (engine gone): remove it with docker rm -f oc-lettings-local-test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newFakeEngine()
			if tt.setup != nil {
				tt.setup(eng)
			}
			var out strings.Builder
			err := run(context.Background(), eng, spec(tt.port), Options{Out: &out, Err: io.Discard, healthTimeout: 300 * time.Millisecond})
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
	if err := run(ctx, eng, spec(site(t, http.StatusOK)), Options{Out: io.Discard, Err: io.Discard}); err != nil {
		t.Errorf("an interrupted run returned %v", err)
	}
	if eng.Calls() != "create start remove id-1" {
		t.Errorf("calls %q: a container made during Ctrl-C is not removed", eng.Calls())
	}
}

func TestRunReportsASiteThatStops(t *testing.T) {
	eng := newFakeEngine()
	err := run(context.Background(), eng, spec(site(t, http.StatusOK)), Options{
		Out: io.Discard, Err: io.Discard,
		ready: func(string) { eng.exit <- 2 },
	})
	if err == nil || err.Error() != "the site stopped with exit code 2; its log is above" {
		t.Errorf("error %v", err)
	}
	if eng.Calls() != "create start remove id-1" {
		t.Errorf("calls %q", eng.Calls())
	}
}

func TestRunWritesNothingAfterItReturns(t *testing.T) {
	eng := newFakeEngine()
	eng.lastWords = "the log stream's last words\n"
	var out testenv.Buffer
	err := run(context.Background(), eng, spec(site(t, http.StatusOK)), Options{
		Out: &out, Err: io.Discard,
		ready: func(string) { eng.exit <- 0 },
	})
	if err == nil {
		t.Fatal("a site that stopped gave no error")
	}
	returned := out.String()
	time.Sleep(100 * time.Millisecond)
	if later := out.String(); later != returned {
		t.Errorf("run wrote %q after it returned", strings.TrimPrefix(later, returned))
	}
	if !strings.HasSuffix(returned, eng.lastWords) {
		t.Errorf("the log's last words were not shown before run returned: %q", returned)
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
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("busy port: %v does not wrap the listener's error", err)
	}
	_ = l.Close()
	if err := CheckPort(context.Background(), port); err != nil {
		t.Errorf("free port: %v", err)
	}
}

func TestAlive(t *testing.T) {
	for _, tt := range []struct {
		name string
		pid  int
		want bool
	}{
		{"this process", os.Getpid(), true},
		{"its parent", os.Getppid(), true},
		{"a process that has exited", deadPID(t), false},
		{"no process", 0, false},
		{"a negative ID", -1, false},
	} {
		if got := alive(tt.pid); got != tt.want {
			t.Errorf("alive(%d), %s = %v, want %v", tt.pid, tt.name, got, tt.want)
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	// Killed, not yet reaped: a zombie, as runLocal is for a moment after
	// kill -9 where PID 1 is slow to reap orphans.
	zombie := exec.Command(os.Args[0], "-test.run=^$")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zombie.Wait() }()
	_ = zombie.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); alive(zombie.Process.Pid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(zombie.Process.Pid) {
		t.Error("a killed process that is not yet reaped counts as alive")
	}
}

// TestWithParent starts this test binary as an orphan-to-be: a shell starts
// it in the background and exits, and it must notice.
func TestWithParent(t *testing.T) {
	t.Parallel()
	if file := os.Getenv("RUNLOCAL_PARENT_PROBE"); file != "" {
		ctx, stop := withParent(context.Background())
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
			if string(got) != errParentGone.Error() {
				t.Errorf("cause %q, want errParentGone", got)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the orphaned process did not notice that its parent had gone")
}
