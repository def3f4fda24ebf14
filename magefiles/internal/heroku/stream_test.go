package heroku_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku/herokutest"
)

func TestStreamWaitsForTheStreamToAppear(t *testing.T) {
	fake, c := newFake(t)
	ctx := context.Background()
	fake.AddApp(herokutest.App{Name: "oc-web"})
	v1 := fake.AddRelease("oc-web", digestOf(1), heroku.StatusSucceeded)
	const output = "Running release command...\nmigrations applied\n"
	fake.PlanRelease(herokutest.ReleasePlan{Output: output, StreamMissing: 3})
	rel, err := c.Rollback(ctx, "oc-web", v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.OutputStreamURL == "" {
		t.Fatal("release has no output_stream_url")
	}
	var out strings.Builder
	s := heroku.Stream{RetryEvery: time.Millisecond, WaitFor: 5 * time.Second}
	if err := s.Copy(ctx, rel.OutputStreamURL, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != output {
		t.Errorf("output = %q, want %q", out.String(), output)
	}
	var streams []herokutest.Request
	for _, r := range fake.Requests() {
		if strings.HasPrefix(r.Path, "/streams/") {
			streams = append(streams, r)
		}
	}
	if len(streams) != 4 || streams[0].Status != http.StatusNotFound || streams[3].Status != http.StatusOK {
		t.Errorf("stream requests = %+v, want three 404 then 200", streams)
	}
	for _, r := range streams {
		if r.Auth != "" {
			t.Errorf("the stream request carried credentials (%s): the key must go to the API only", r.Auth)
		}
	}
}

func TestStreamGivesUpWhenItNeverAppears(t *testing.T) {
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	s := heroku.Stream{RetryEvery: time.Millisecond, WaitFor: 30 * time.Millisecond}
	err := s.Copy(context.Background(), missing.URL+"/streams/x", &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v, want the 404 reported", err)
	}
}

// A stream that breaks off is reported, not resumed: what came is kept.
func TestStreamReportsADrop(t *testing.T) {
	const output = "line one\nline two\nline three\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack() // promise everything, send half, hang up
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = conn.Close() }()
		writeHalf(buf, output)
	}))
	defer srv.Close()
	var out strings.Builder
	s := heroku.Stream{RetryEvery: time.Millisecond}
	if err := s.Copy(context.Background(), srv.URL, &out); err == nil || !strings.Contains(err.Error(), "release output stream") {
		t.Errorf("err = %v, want the broken stream reported", err)
	}
	if out.String() != output[:len(output)/2] {
		t.Errorf("output = %q, want the half that was sent", out.String())
	}
}

func writeHalf(buf *bufio.ReadWriter, body string) {
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	_, _ = buf.WriteString(body[:len(body)/2])
	_ = buf.Flush()
}
