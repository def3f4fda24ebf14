// Command app is the Orange County Lettings website.
//
// It reads its configuration from the environment (see package config),
// serves on $PORT, logs JSON to standard output (buffered for up to 100 ms), and shuts down gracefully on
// SIGTERM or SIGINT. Invalid configuration makes it exit with status 1 and a
// message naming the variable.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	_ "time/tzdata" // time zones for a scratch image

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for reaching Sentry from a scratch image

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/app/internal/catalogue"
	"github.com/oc-lettings/oc-lettings/app/internal/config"
	"github.com/oc-lettings/oc-lettings/app/internal/logging"
	"github.com/oc-lettings/oc-lettings/app/internal/monitoring"
	"github.com/oc-lettings/oc-lettings/app/internal/server"
	"github.com/oc-lettings/oc-lettings/app/internal/static"
	"github.com/oc-lettings/oc-lettings/app/internal/web"
)

const (
	// flushTimeout bounds the wait for error reports to reach Sentry at exit.
	flushTimeout = 3 * time.Second
	// logInterval is the longest a log record waits in memory.
	logInterval = 100 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal ends the process at once
	logs := logging.NewBuffer(os.Stdout, logInterval)
	err := run(ctx, os.Getenv, slog.New(slog.NewJSONHandler(logs, nil)))
	_ = logs.Close() // nowhere left to report a failure to write logs
	if err != nil {
		fmt.Fprintf(os.Stderr, "oc-lettings: %v\n", err)
		os.Exit(1)
	}
}

// run builds the site from the environment and serves it until ctx is done.
func run(ctx context.Context, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	monitor, err := monitoring.New(monitoring.Options{
		DSN:              cfg.SentryDSN,
		Environment:      cfg.SentryEnvironment,
		Release:          buildinfo.Release(),
		TracesSampleRate: cfg.SentryTracesSampleRate,
	})
	if err != nil {
		return err
	}
	cat, err := catalogue.Embedded()
	if err != nil {
		return err
	}
	assets, err := static.Embedded()
	if err != nil {
		return err
	}
	handler, err := web.New(web.Options{
		Catalogue:         cat,
		Assets:            assets,
		Logger:            logger,
		SecureSSLRedirect: cfg.SecureSSLRedirect,
		SentryDebugRoute:  cfg.SentryDebugRoute,
		ReportPanics:      monitor.Middleware,
	})
	if err != nil {
		return err
	}

	logger.LogAttrs(ctx, slog.LevelInfo, "starting",
		slog.String("version", buildinfo.Version),
		slog.String("commit", buildinfo.Commit),
		slog.Int("port", cfg.Port),
		slog.Bool("sentry", monitor.Enabled()),
		slog.String("sentry_environment", cfg.SentryEnvironment),
		slog.Bool("secure_ssl_redirect", cfg.SecureSSLRedirect),
		slog.Bool("sentry_debug_route", cfg.SentryDebugRoute),
	)
	srv := server.New(":"+strconv.Itoa(cfg.Port), handler, logger)
	err = srv.Run(ctx)

	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if !monitor.Flush(flushCtx) {
		logger.LogAttrs(ctx, slog.LevelWarn, "some error reports were not sent to Sentry")
	}
	return err
}
