// Package deploy runs mage deploy's one flow, whatever the platform:
//
//	preflight → copy the image → release → follow → health check →
//	roll back on failure → record in Sentry
//
// It deploys the image built and pushed for a commit, never a rebuild, and
// needs no Docker engine: the image is copied from registry to registry.
// What differs between platforms sits behind the Platform interface.
//
// Everything that can be checked before slow work is: the settings, then
// the platform's preflight, bounded in time. Once the platform has a new
// release, the deploy either ends with the commit live or with the app
// back on what it ran before; when it is interrupted, it rolls back within
// the few seconds mage allows, or says exactly what to do.
package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/healthz"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// A Platform is where the site runs. Run calls its methods in this order,
// and a Platform keeps what it learns during one deploy (such as the
// release that ran before) from one call to the next.
type Platform interface {
	// Preflight checks, before anything is uploaded, that the credentials
	// are accepted and that the app can run a container image, and says
	// where the image goes.
	Preflight(ctx context.Context) (Target, error)
	// Release asks the platform to run the image Copy wrote, and returns
	// the release's name. changed is false when that image already runs:
	// nothing was released.
	Release(ctx context.Context, img registry.Copied) (name string, changed bool, err error)
	// Follow waits until the release is live, and fails when the platform
	// says it failed.
	Follow(ctx context.Context) error
	// URL is the app's URL, under which /healthz is checked. It is asked
	// once the release is live: a new service has none before.
	URL(ctx context.Context) (string, error)
	// Rollback returns the app to what it ran before the release, and says
	// in a sentence what it did. With wait false (an interrupted deploy)
	// it only starts the rollback. It is also called when Release was
	// interrupted, and then first finds out whether a release was made.
	Rollback(ctx context.Context, wait bool) (string, error)
}

// Target is where a platform wants the image, and what it serves.
type Target struct {
	App      string         // how messages name the app, e.g. "oc-lettings"
	Image    registry.Image // where the image goes, with the credentials
	DockerV2 bool           // the platform takes only Docker v2 schema 2 manifests
	Logs     string         // the command that shows the app's logs
	Refused  string         // what to check when its registry refuses the credentials
}

// Production waits. Heroku gives a dyno 60 s to bind $PORT, so the health
// check waits longer than that.
const (
	DefaultPreflightTimeout = time.Minute
	DefaultHealthTimeout    = 2 * time.Minute
	DefaultPollInterval     = 2 * time.Second
	// DefaultRollbackWindow is the time an interrupted deploy takes to
	// roll back: mage waits 5 s for a target after Ctrl-C.
	DefaultRollbackWindow = 4 * time.Second
)

// Config is what a deploy needs besides its platform.
type Config struct {
	Commit  string         // the commit deployed: what /healthz must report
	Version string         // git describe of the commit, used when /healthz gives none
	Source  registry.Image // the image built for Commit, and its registry's credentials
	// HealthURL is the URL checked for the new commit (DEPLOY_HEALTH_URL);
	// empty means the target's URL + healthz.
	HealthURL string

	Sentry            *sentryrelease.Client // nil: no release tracking
	SentryEnvironment string                // the environment the deploy is recorded for

	Out   io.Writer // one line per step
	Notes []string  // what the user should know first, such as half-set Sentry settings

	// Waits; zero means the Default.
	PreflightTimeout, HealthTimeout, PollInterval, RollbackWindow time.Duration
}

// Result is what a deploy did.
type Result struct {
	Release   string          // the release's name; the running one when Unchanged
	Unchanged bool            // the image already ran: nothing was released
	Copied    registry.Copied // what was copied to the platform's registry
	Version   string          // the version /healthz reported
}

// Run deploys with p. Its error says what failed and, once the platform
// has made a release, what was done about it (see RollbackError).
func Run(ctx context.Context, p Platform, cfg Config) (Result, error) {
	cfg.PreflightTimeout = cmp.Or(max(cfg.PreflightTimeout, 0), DefaultPreflightTimeout)
	cfg.HealthTimeout = cmp.Or(max(cfg.HealthTimeout, 0), DefaultHealthTimeout)
	cfg.PollInterval = cmp.Or(max(cfg.PollInterval, 0), DefaultPollInterval)
	cfg.RollbackWindow = cmp.Or(max(cfg.RollbackWindow, 0), DefaultRollbackWindow)
	return (&run{p: p, cfg: cfg, start: time.Now()}).deploy(ctx)
}

type run struct {
	p      Platform
	cfg    Config
	start  time.Time
	target Target
	url    string // the app's URL, once known
}

func (d *run) say(format string, args ...any) { fmt.Fprintf(d.cfg.Out, format+"\n", args...) }

// errSlowPreflight ends a preflight that takes too long.
var errSlowPreflight = errors.New("no answer")

func (d *run) deploy(ctx context.Context) (Result, error) {
	for _, note := range d.cfg.Notes {
		d.say("note: %s", note)
	}
	pctx, cancel := context.WithTimeoutCause(ctx, d.cfg.PreflightTimeout, errSlowPreflight)
	target, err := d.p.Preflight(pctx)
	slow := errors.Is(context.Cause(pctx), errSlowPreflight)
	cancel()
	switch {
	case slow:
		return Result{}, fmt.Errorf("preflight: no answer within %s, so nothing was uploaded: check the platform's API URL, "+
			"the network and the platform's status page, then try again (%w)", d.cfg.PreflightTimeout, err)
	case err != nil:
		return Result{}, fmt.Errorf("preflight: %w", err)
	}
	d.target = target

	copied, err := registry.Copy(ctx, d.cfg.Source, target.Image, target.DockerV2)
	if err != nil {
		return Result{}, fmt.Errorf("%w; nothing was released", d.explainCopy(err))
	}
	sent := fmt.Sprintf("copied %s to %s (digest %s; %d of %d blobs sent, %s)", d.cfg.Source.Ref, copied.Ref,
		copied.Digest, copied.BlobsSent, copied.Blobs, units.HumanSizeWithPrecision(float64(copied.BytesSent), 3))
	d.say("%s", strings.Join(append([]string{sent}, copied.Changes...), "; "))

	name, changed, err := d.p.Release(ctx, copied)
	switch {
	case ctx.Err() != nil:
		return Result{}, d.interrupted(ctx, "asking for the release")
	case err != nil:
		return Result{}, err
	case !changed:
		// Nothing to release, and nothing to roll back to: the deploy
		// succeeds only if what runs serves the commit.
		version, err := d.checkHealth(ctx)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w; %s already runs this image, so nothing was changed: see %s", err, name, target.Logs)
		}
		return Result{Release: name, Unchanged: true, Copied: copied, Version: version}, err
	}

	// From here on the platform has a new release: it either passes its
	// checks, or the app goes back to what it ran before.
	if err := d.p.Follow(ctx); err != nil {
		return Result{Release: name}, d.recover(ctx, err, "following "+name)
	}
	version, err := d.checkHealth(ctx)
	if err != nil {
		return Result{Release: name}, d.recover(ctx, err, "checking that "+name+" serves the new commit")
	}
	d.recordInSentry(ctx, name, version)
	d.say("deployed %s to %s as %s in %s", short(d.cfg.Commit), target.App, name, time.Since(d.start).Round(100*time.Millisecond))
	return Result{Release: name, Copied: copied, Version: version}, nil
}

// healthURL is DEPLOY_HEALTH_URL, or the app's URL + healthz.
func (d *run) healthURL(ctx context.Context) (string, error) {
	web, err := d.p.URL(ctx)
	d.url = web
	switch {
	case d.cfg.HealthURL != "":
		return d.cfg.HealthURL, nil
	case err != nil:
		return "", err
	}
	u, err := url.Parse(web)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s has no web URL to check (%q): set DEPLOY_HEALTH_URL", d.target.App, web)
	}
	return u.JoinPath("healthz").String(), nil
}

// explainCopy says what to do about an image that could not be copied.
func (d *run) explainCopy(err error) error {
	refused, isAuth := errors.AsType[*registry.AuthError](err)
	_, isMissing := errors.AsType[*registry.NotFoundError](err)
	switch {
	case isMissing:
		return fmt.Errorf("%w, built for commit %s: run mage build push first (in CI, the build-and-push job must have run for this commit)",
			err, short(d.cfg.Commit))
	case isAuth && refused.Registry == registry.HostOf(d.target.Image.Ref):
		return fmt.Errorf("%w: %s", err, d.target.Refused)
	case isAuth:
		return fmt.Errorf("%w: %s", err, settings.DockerHubRefused)
	}
	return err
}

// checkHealth asks the health URL until it reports the commit, and returns
// the version it reports.
func (d *run) checkHealth(ctx context.Context) (string, error) {
	hctx, cancel := context.WithTimeout(ctx, d.cfg.HealthTimeout)
	defer cancel()
	url, err := d.healthURL(hctx)
	if err != nil {
		return "", fmt.Errorf("health check: %w", err)
	}
	h, err := healthz.Wait(hctx, url, d.cfg.PollInterval, func(h buildinfo.Health) bool {
		return h.Status == "ok" && h.Commit == d.cfg.Commit
	})
	switch {
	case ctx.Err() != nil:
		return "", context.Cause(ctx)
	case err != nil:
		d.say("health check failed: no commit %s after %s", short(d.cfg.Commit), d.cfg.HealthTimeout)
		return "", fmt.Errorf("health check: %s did not report commit %s within %s: %w", url, short(d.cfg.Commit), d.cfg.HealthTimeout, err)
	}
	d.say("health ok: %s reports commit %s (%s)", url, short(h.Commit), h.Version)
	return h.Version, nil
}

// RollbackError reports a deploy that failed after the platform made its
// release, and what was done about it.
type RollbackError struct {
	Cause   error  // why the deploy failed
	Outcome string // what the rollback did, in a sentence
	Err     error  // why the rollback failed, when it did
}

func (e *RollbackError) Error() string {
	if e.Err != nil {
		return e.Cause.Error() + "\nROLLBACK FAILED: " + e.Err.Error()
	}
	return e.Cause.Error() + "\n" + e.Outcome
}

func (e *RollbackError) Unwrap() error { return e.Cause }

// recover rolls the app back after the release failed its checks with
// cause, during the step named by during.
func (d *run) recover(ctx context.Context, cause error, during string) error {
	if ctx.Err() != nil {
		return d.interrupted(ctx, during)
	}
	outcome, err := d.p.Rollback(ctx, true)
	if ctx.Err() != nil {
		cause = fmt.Errorf("%w (then the deploy was interrupted while rolling back)", cause)
	}
	return &RollbackError{Cause: cause, Outcome: outcome, Err: err}
}

// interrupted handles a deploy stopped by its context once the release was
// asked for. Mage allows a cancelled target 5 s, so the rollback is only
// started, within RollbackWindow.
func (d *run) interrupted(ctx context.Context, during string) error {
	stop := stopped{context.Cause(ctx)}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RollbackWindow)
	defer cancel()
	d.say("%v while %s: rolling back", stop, during)
	outcome, err := d.p.Rollback(wctx, false)
	return &RollbackError{Cause: fmt.Errorf("deploy %w while %s", stop, during), Outcome: outcome, Err: err}
}

// stopped is why a deploy's context ended, in a word: Ctrl-C and SIGTERM
// interrupt it, mage -t times it out. errors.Is sees the cause through it.
type stopped struct{ cause error }

func (s stopped) Error() string {
	if errors.Is(s.cause, context.DeadlineExceeded) {
		return "timed out"
	}
	return "interrupted"
}

func (s stopped) Unwrap() error { return s.cause }

// recordInSentry tells Sentry about the release; a failure is a warning.
func (d *run) recordInSentry(ctx context.Context, release, version string) {
	if d.cfg.Sentry == nil {
		return
	}
	name := buildinfo.ReleaseName(cmp.Or(version, d.cfg.Version))
	err := d.cfg.Sentry.Record(ctx, sentryrelease.Deploy{
		Version: name, Commit: d.cfg.Commit, Environment: d.cfg.SentryEnvironment,
		Name: d.target.App + " " + release, URL: d.url, Started: d.start, Finished: time.Now(),
	})
	if err != nil {
		d.say("warning: the deploy succeeded, but Sentry release %s was not recorded: %v", name, err)
		return
	}
	d.say("Sentry release %s recorded, deployed to %s", name, d.cfg.SentryEnvironment)
}

// short is how messages show a commit: its first 12 characters.
func short(commit string) string { return commit[:min(len(commit), 12)] }
