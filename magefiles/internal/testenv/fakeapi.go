package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// The helpers below serve the fake web APIs of herokutest and
// sentryreleasetest, which record each request with the status they
// answered it with.

// WriteJSON answers with status and v as a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ReadBody returns the body of r, and puts a copy back for the handler.
func ReadBody(r *http.Request) string {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return string(body)
}

// StatusRecorder is an http.ResponseWriter that notes the status its
// handler answers.
type StatusRecorder struct {
	http.ResponseWriter
	Status int // http.StatusOK until the handler writes another
}

// NewStatusRecorder records what is answered through w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader notes status and sends it.
func (r *StatusRecorder) WriteHeader(status int) {
	r.Status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap returns the ResponseWriter underneath, for http.ResponseController.
func (r *StatusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
