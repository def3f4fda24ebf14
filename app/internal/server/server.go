// Package server runs an HTTP server fit to face the internet without a
// reverse proxy of its own: bounded timeouts and header size, and a graceful
// shutdown that lets in-flight requests finish within Heroku's 30 seconds.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits applied to every connection.
const (
	// ReadHeaderTimeout bounds the time to read a request's headers, against
	// clients that trickle them in (slowloris).
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds the time to read a whole request.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds the time from the end of the request headers to the
	// end of the response.
	WriteTimeout = 30 * time.Second
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request; longer than Heroku's router keeps idle connections (90 s).
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds the size of a request's headers.
	MaxHeaderBytes = 32 << 10
	// DrainTimeout bounds the graceful shutdown: Heroku sends SIGKILL 30 s
	// after SIGTERM, and the process still has to flush its error reports.
	DrainTimeout = 20 * time.Second
)

// Server is an HTTP server that shuts down gracefully when its context ends.
type Server struct {
	http   *http.Server
	logger *slog.Logger
	// DrainTimeout bounds the graceful shutdown. New sets it to the package's
	// DrainTimeout.
	DrainTimeout time.Duration
}

// New returns a Server for handler, to listen on addr (such as ":8000").
// The server's own errors, such as failed TLS handshakes or panics that escape
// handler, are logged to logger at level WARN.
func New(addr string, handler http.Handler, logger *slog.Logger) *Server {
	return &Server{
		http: &http.Server{
			Addr:              addr,
			Handler:           handler,
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		logger:       logger,
		DrainTimeout: DrainTimeout,
	}
}

// Run listens on the server's address and serves until ctx is done, like
// Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", s.http.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves connections from ln until ctx is done, then shuts down: it
// stops accepting connections, closes idle ones, and waits up to DrainTimeout
// for in-flight requests to finish before closing what is left. It returns nil
// after a complete graceful shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.logger.LogAttrs(ctx, slog.LevelInfo, "listening", slog.String("addr", ln.Addr().String()))
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}

	s.logger.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.String("drain_timeout", s.DrainTimeout.String()))
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.DrainTimeout)
	defer cancel()
	if err := s.http.Shutdown(drainCtx); err != nil {
		closeErr := s.http.Close()
		return fmt.Errorf("server: drain in-flight requests: %w", errors.Join(err, closeErr))
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "stopped")
	return nil
}
