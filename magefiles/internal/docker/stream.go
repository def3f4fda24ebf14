package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
)

// message is one entry of the engine's JSON message stream: the client's
// jsonstream.Message plus the plain "error" string that engines send next
// to (and old engines instead of) errorDetail.
type message struct {
	jsonstream.Message
	ErrorText string `json:"error,omitempty"`
}

// StreamError is a failure the engine reported inside its message stream
// (a refused password, a failed build step), rather than as the API call's
// error.
type StreamError struct {
	Message string
	Code    int // HTTP-like status, when the engine gives one
}

func (e *StreamError) Error() string { return e.Message }

// readStream reads the engine's message stream in body to its end, passing
// every message that is not an error to handle, and closes body. It returns
// the first error the stream reported as a *StreamError, or what broke the
// stream itself (the engine going away, ctx ending).
func readStream(ctx context.Context, body io.ReadCloser, handle func(jsonstream.Message)) error {
	stop := context.AfterFunc(ctx, func() { _ = body.Close() })
	defer stop()
	defer func() { _ = body.Close() }()

	var reported *StreamError
	dec := json.NewDecoder(body)
	for {
		var m message
		err := dec.Decode(&m)
		switch {
		case errors.Is(err, io.EOF):
			if reported != nil {
				return reported
			}
			return nil
		case err != nil && reported != nil:
			return reported
		case err != nil && ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil:
			return fmt.Errorf("the Docker engine's answer broke off: %w", err)
		}
		if m.Error != nil || m.ErrorText != "" {
			if reported == nil {
				reported = &StreamError{Message: m.ErrorText}
				if m.Error != nil {
					reported.Code = m.Error.Code
					if m.Error.Message != "" {
						reported.Message = m.Error.Message
					}
				}
			}
			continue
		}
		if handle != nil {
			handle(m.Message)
		}
	}
}
