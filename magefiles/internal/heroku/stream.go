package heroku

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Stream reads a release's output stream (Release.OutputStreamURL): the
// output of the release phase, as it is written.
//
// The URL is signed, so the request carries no credentials: the API key
// never goes there. The stream can answer 404 for a few seconds after the
// release is created; a dropped connection is resumed with a Range header.
type Stream struct {
	Client     *http.Client  // nil means a client without credentials
	RetryEvery time.Duration // wait between attempts; default 1s
	WaitFor    time.Duration // how long a 404 is retried; default 30s
}

// maxResumes bounds the reconnections after a dropped stream.
const maxResumes = 5

// Copy copies the stream at url to w until it ends or ctx ends.
func (s Stream) Copy(ctx context.Context, url string, w io.Writer) error {
	hc := s.Client
	if hc == nil {
		hc = &http.Client{}
	}
	every := s.RetryEvery
	if every <= 0 {
		every = time.Second
	}
	waitFor := s.WaitFor
	if waitFor <= 0 {
		waitFor = 30 * time.Second
	}
	deadline := time.Now().Add(waitFor)
	var written int64
	for resumes := 0; ; {
		n, status, err := copyOnce(ctx, hc, url, written, w)
		written += n
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case status == http.StatusNotFound && time.Now().Before(deadline):
		case status == 0 && resumes < maxResumes: // a dropped connection
			resumes++
		default:
			return err
		}
		if err := sleep(ctx, every); err != nil {
			return err
		}
	}
}

// copyOnce requests the stream from offset and copies it to w. It returns
// how much it wrote, and the HTTP status when the server refused it.
func copyOnce(ctx context.Context, hc *http.Client, url string, offset int64, w io.Writer) (int64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, -1, fmt.Errorf("release output stream: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("release output stream: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		// The whole stream again: skip what was already copied.
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			return 0, 0, fmt.Errorf("release output stream: %w", err)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		return 0, 0, nil // nothing after what was copied
	default:
		return 0, resp.StatusCode, fmt.Errorf("release output stream: %w", statusError(resp.Status))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, 0, fmt.Errorf("release output stream: %w", err)
	}
	return n, resp.StatusCode, nil
}

type statusError string

func (e statusError) Error() string { return "answered " + string(e) }
