package monitoring_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
	"github.com/oc-lettings/oc-lettings/app/internal/monitoring"
	"github.com/oc-lettings/oc-lettings/app/internal/static"
	"github.com/oc-lettings/oc-lettings/app/internal/web"
)

// envelopeItem is one item of a Sentry envelope: its type and raw payload.
type envelopeItem struct {
	Type    string
	Payload []byte
}

// fakeSentry is an httptest server standing in for Sentry's ingestion API.
// It records the items of the envelopes posted to /api/<project>/envelope/.
type fakeSentry struct {
	*httptest.Server
	t *testing.T

	mu    sync.Mutex
	raw   [][]byte // every request body, as received
	items []envelopeItem
}

const project = "4242"

func newFakeSentry(t *testing.T) *fakeSentry {
	f := &fakeSentry{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// dsn returns a DSN pointing at the fake server.
func (f *fakeSentry) dsn() string {
	return strings.Replace(f.URL, "http://", "http://public-key@", 1) + "/" + project
}

func (f *fakeSentry) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/"+project+"/envelope/" {
		f.t.Errorf("fake Sentry got %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if !strings.Contains(r.Header.Get("X-Sentry-Auth"), "sentry_key=public-key") {
		f.t.Errorf("X-Sentry-Auth = %q, want the DSN's key", r.Header.Get("X-Sentry-Auth"))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Error(err)
		return
	}
	items, err := parseEnvelope(body)
	if err != nil {
		f.t.Errorf("malformed envelope: %v\n%s", err, body)
	}
	f.mu.Lock()
	f.raw = append(f.raw, body)
	f.items = append(f.items, items...)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if _, err := io.WriteString(w, `{"id":"00000000000000000000000000000000"}`); err != nil {
		f.t.Errorf("write Sentry's answer: %v", err)
	}
}

// parseEnvelope splits an envelope: a header line, then items, each an item
// header line followed by a payload of the header's length, or of one line.
func parseEnvelope(body []byte) ([]envelopeItem, error) {
	r := bufio.NewReader(bytes.NewReader(body))
	if _, err := r.ReadBytes('\n'); err != nil {
		return nil, err
	}
	var items []envelopeItem
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(bytes.TrimSpace(line)) == 0 {
			return items, nil
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		var header struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(line, &header); err != nil {
			return nil, err
		}
		var payload []byte
		if header.Length != nil {
			payload = make([]byte, *header.Length)
			if _, err := io.ReadFull(r, payload); err != nil {
				return nil, err
			}
			// The newline after the payload, if any.
			if _, err := r.ReadByte(); err != nil && err != io.EOF {
				return nil, err
			}
		} else if payload, err = r.ReadBytes('\n'); err != nil && err != io.EOF {
			return nil, err
		}
		items = append(items, envelopeItem{Type: header.Type, Payload: bytes.TrimSpace(payload)})
	}
}

// item returns the first recorded item of the given type.
func (f *fakeSentry) item(typ string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range f.items {
		if it.Type == typ {
			return it.Payload, true
		}
	}
	return nil, false
}

// received returns every body received so far, concatenated.
func (f *fakeSentry) received() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(bytes.Join(f.raw, []byte("\n")))
}

// Secrets sent by the client, which must never reach Sentry. The cookie's
// name is not one Sentry's own deny-list recognises.
const (
	cookieValue = "c00kie-v4lue-must-not-leak"
	authValue   = "Bearer t0ken-must-not-leak"
)

// TestPanicReachesSentry serves /sentry-debug/ through the whole site with a
// real Sentry client, and checks what reaches the fake Sentry server.
func TestPanicReachesSentry(t *testing.T) {
	sentryServer := newFakeSentry(t)
	release := buildinfo.ReleaseName("v9.9.9-test")
	monitor, err := monitoring.New(monitoring.Options{
		DSN:              sentryServer.dsn(),
		Environment:      "staging-test",
		Release:          release,
		TracesSampleRate: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !monitor.Enabled() {
		t.Fatal("Monitor with a DSN is not enabled")
	}
	cat, err := catalogue.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{
		Catalogue:        cat,
		Assets:           assets,
		Logger:           slog.New(slog.NewJSONHandler(io.Discard, nil)),
		SentryDebugRoute: true,
		ReportPanics:     monitor.Middleware,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()

	get := func(path string) (status int) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", "theme="+cookieValue)
		req.Header.Set("Authorization", authValue)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			t.Fatalf("GET %s: read body: %v", path, err)
		}
		return res.StatusCode
	}
	if status := get("/sentry-debug/"); status != http.StatusInternalServerError {
		t.Fatalf("GET /sentry-debug/: status %d, want 500", status)
	}
	if status := get("/lettings/"); status != http.StatusOK {
		t.Fatalf("GET /lettings/ after the panic: status %d, want 200", status)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if !monitor.Flush(ctx) {
		t.Fatal("Flush timed out")
	}
	// Transactions may be sent in a later batch than the error: wait a little.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, haveEvent := sentryServer.item("event")
		_, haveTx := sentryServer.item("transaction")
		if haveEvent && haveTx || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	payload, ok := sentryServer.item("event")
	if !ok {
		t.Fatalf("no error event reached Sentry; received:\n%s", sentryServer.received())
	}
	var event struct {
		Release     string `json:"release"`
		Environment string `json:"environment"`
		Exception   []struct {
			Type      string `json:"type"`
			Value     string `json:"value"`
			Mechanism *struct {
				Handled *bool `json:"handled"`
			} `json:"mechanism"`
		} `json:"exception"`
		Request struct {
			URL     string            `json:"url"`
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
			Cookies string            `json:"cookies"`
		} `json:"request"`
	}
	if err := json.Unmarshal(payload, &event); err != nil {
		t.Fatalf("event payload: %v\n%s", err, payload)
	}
	if event.Release != release {
		t.Errorf("release = %q, want %q", event.Release, release)
	}
	if event.Environment != "staging-test" {
		t.Errorf("environment = %q, want staging-test", event.Environment)
	}
	found := false
	for _, e := range event.Exception {
		if strings.Contains(e.Value, "deliberate failure") {
			found = true
		}
	}
	if !found {
		t.Errorf("no exception with the panic's message: %+v", event.Exception)
	}
	if !strings.HasSuffix(event.Request.URL, "/sentry-debug/") || event.Request.Method != http.MethodGet {
		t.Errorf("request = %s %s, want GET .../sentry-debug/", event.Request.Method, event.Request.URL)
	}
	for _, name := range []string{"Cookie", "Authorization"} {
		if v, ok := event.Request.Headers[name]; ok {
			t.Errorf("event request header %s present (%q), want it removed", name, v)
		}
	}
	if event.Request.Cookies != "" {
		t.Errorf("event cookies = %q, want none", event.Request.Cookies)
	}

	if _, ok := sentryServer.item("transaction"); !ok {
		t.Errorf("no transaction reached Sentry with a sample rate of 1")
	}
	all := sentryServer.received()
	for _, secret := range []string{cookieValue, "t0ken-must-not-leak", "REMOTE_ADDR"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q reached Sentry", secret)
		}
	}
	if testing.Verbose() {
		t.Logf("event: %s", strconv.Quote(string(payload[:min(len(payload), 400)])))
	}
}
