package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/app/buildinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/docker"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/gitinfo"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/sentryrelease"
)

// Engine is what a deploy needs from the Docker engine; *docker.Engine
// has it.
type Engine interface {
	ImageID(ctx context.Context, ref string) (id string, found bool, err error)
	Pull(ctx context.Context, ref string, auth docker.Auth, progress io.Writer) error
	Tag(ctx context.Context, source, target string) error
	Push(ctx context.Context, ref string, auth docker.Auth, progress io.Writer) error
}

// Deployer runs a deploy.
type Deployer struct {
	Config Config
	Engine Engine
	Heroku *heroku.Client
	Sentry *sentryrelease.Client // nil: no release tracking
	// Health checks /healthz; nil means a plain client. It never carries
	// credentials.
	Health   *http.Client
	Out      io.Writer // progress, one line per step; nil means os.Stdout
	Verbose  bool      // also show push progress and the release phase output live
	Redactor *redact.Redactor
}

// New returns a Deployer for cfg that uses eng, writing to out.
func New(cfg Config, eng Engine, out io.Writer, verbose bool) *Deployer {
	d := &Deployer{
		Config:   cfg,
		Engine:   eng,
		Out:      out,
		Verbose:  verbose,
		Redactor: redact.New(cfg.APIKey, cfg.PullAuth.Password, cfg.Sentry.Token),
	}
	d.Heroku = heroku.New(heroku.Config{
		APIURL: cfg.APIURL,
		APIKey: cfg.APIKey,
		Retry:  cfg.Retry,
		Logf: func(format string, args ...any) {
			w := d.Redactor.Writer(d.out())
			fmt.Fprintf(w, format+"\n", args...)
			_ = w.Close()
		},
	})
	if cfg.Sentry.Enabled() {
		d.Sentry = sentryrelease.New(cfg.Sentry)
	}
	return d
}

func (d *Deployer) out() io.Writer {
	if d.Out == nil {
		return os.Stdout
	}
	return d.Out
}

// Result is what a deploy did.
type Result struct {
	Release   heroku.Release // the release made; the current one when Unchanged
	Unchanged bool           // the image was already released: nothing was done
	Version   string         // the version /healthz reported
	HealthURL string         // where the commit was checked
}

// Run deploys. Its error says what failed and, once Heroku has made the
// release, what was done about it (see RollbackError).
func (d *Deployer) Run(ctx context.Context) (res Result, err error) {
	out := d.Redactor.Writer(d.out())
	defer func() { _ = out.Close() }()
	r := &run{d: d, cfg: d.Config.withDefaults(), out: out, start: time.Now()}
	res, err = r.deploy(ctx)
	return res, d.Redactor.Error(err)
}

// run is the state of one deploy.
type run struct {
	d     *Deployer
	cfg   Config
	out   io.Writer
	start time.Time

	app      heroku.App
	previous *heroku.Release // current before the deploy; nil when none
	latest   *heroku.Release // newest before the deploy; nil when none
}

func (r *run) say(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *run) deploy(ctx context.Context) (Result, error) {
	for _, note := range r.cfg.Notes {
		r.say("note: %s", note)
	}
	healthURL, err := r.preflight(ctx)
	if err != nil {
		return Result{}, err
	}
	image, err := r.image(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := r.push(ctx); err != nil {
		return Result{}, err
	}
	rel, made, err := r.release(ctx, image)
	if err != nil {
		return Result{}, err
	}
	if !made {
		// Nothing to release, and nothing to roll back to: the deploy
		// succeeds only if what runs serves the commit.
		version, err := r.checkHealth(ctx, healthURL)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w; %s already runs this image, so nothing was changed: see heroku logs -a %s", err, rel.Name(), r.app.Name)
		}
		return Result{Release: rel, Unchanged: true, Version: version, HealthURL: healthURL}, err
	}

	// From here on Heroku has a new release: it either passes its checks,
	// or the app goes back to the release it ran before.
	if err := r.follow(ctx, &rel); err != nil {
		return Result{Release: rel}, r.recover(ctx, rel, err, "waiting for "+rel.Name()+" to be released")
	}
	version, err := r.checkHealth(ctx, healthURL)
	if err != nil {
		return Result{Release: rel}, r.recover(ctx, rel, err, "checking that "+rel.Name()+" serves the new commit")
	}
	r.recordInSentry(ctx, rel, version)
	r.say("deployed %s to %s as %s in %s", short(r.cfg.Commit), r.app.Name, rel.Name(), time.Since(r.start).Round(100*time.Millisecond))
	return Result{Release: rel, Version: version, HealthURL: healthURL}, nil
}

// preflight checks, before any slow work, that the key is accepted and the
// app exists and runs containers, and returns the URL to check.
func (r *run) preflight(ctx context.Context) (string, error) {
	acct, err := r.d.Heroku.Account(ctx)
	if err != nil {
		return "", fmt.Errorf("preflight: %w", err)
	}
	r.app, err = r.d.Heroku.App(ctx, r.cfg.App)
	if err != nil {
		return "", fmt.Errorf("preflight: %w", err)
	}
	if !r.app.IsContainer() {
		return "", fmt.Errorf("preflight: app %s is on the %s stack, but this site ships as a container image: "+
			"switch it with heroku stack:set container -a %s, or run mage heroku:create, which does it", r.app.Name, r.app.Stack, r.app.Name)
	}
	healthURL, err := r.healthURL()
	if err != nil {
		return "", fmt.Errorf("preflight: %w", err)
	}
	r.say("preflight ok: app %s on the container stack, key of %s accepted", r.app.Name, acct.Email)
	return healthURL, nil
}

// healthURL is DEPLOY_HEALTH_URL, or the app's web_url + healthz.
func (r *run) healthURL() (string, error) {
	raw := r.cfg.HealthURL
	if raw == "" {
		if r.app.WebURL == "" {
			return "", fmt.Errorf("app %s has no web_url to check: set DEPLOY_HEALTH_URL", r.app.Name)
		}
		base, err := url.Parse(r.app.WebURL)
		if err != nil {
			return "", fmt.Errorf("app %s has a web_url that is not a URL (%q): set DEPLOY_HEALTH_URL", r.app.Name, r.app.WebURL)
		}
		return base.JoinPath("healthz").String(), nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("DEPLOY_HEALTH_URL %q is not an http(s) URL", raw)
	}
	return raw, nil
}

// image finds the image built for the commit, pulling it when the engine
// lacks it, and returns its ID.
func (r *run) image(ctx context.Context) (string, error) {
	ref := r.cfg.Image
	id, found, err := r.d.Engine.ImageID(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("looking for image %s: %w", ref, err)
	}
	if !found && !strings.Contains(ref, "/") {
		// A local name (no DOCKERHUB_USERNAME): pulling it would ask Docker
		// Hub for its official image of that name.
		return "", fmt.Errorf("image %s is not in the local engine, and without DOCKERHUB_USERNAME there is no registry to pull it from: "+
			"build it here with mage build, or set DOCKERHUB_USERNAME (and DOCKERHUB_PASS) to deploy the image CI pushed", ref)
	}
	if !found {
		r.say("image %s is not in the local engine: pulling it", ref)
		if err := r.d.Engine.Pull(ctx, ref, r.cfg.PullAuth, r.progress()); err != nil {
			return "", r.pullFailed(ref, err)
		}
		if id, found, err = r.d.Engine.ImageID(ctx, ref); err != nil {
			return "", fmt.Errorf("looking for image %s after pulling it: %w", ref, err)
		} else if !found {
			return "", fmt.Errorf("image %s was pulled but the engine cannot find it: run mage deploy again", ref)
		}
	}
	r.say("image %s (%s)", ref, docker.ShortID(id))
	return id, nil
}

// pullFailed explains why the image for the commit could not be pulled.
func (r *run) pullFailed(ref string, err error) error {
	var auth *docker.AuthError
	var missing *docker.NotFoundError
	switch {
	case errors.As(err, &auth):
		return fmt.Errorf("pulling image %s: %w: check DOCKERHUB_USERNAME and DOCKERHUB_PASS", ref, err)
	case errors.As(err, &missing):
		return fmt.Errorf("image %s, built for commit %s, is neither in the local engine nor in its registry: "+
			"run mage build push first (in CI, the build-and-push job must have run for this commit)", ref, short(r.cfg.Commit))
	default:
		return fmt.Errorf("image %s, built for commit %s, is not in the local engine and pulling it failed: %w; "+
			"if it was never pushed, run mage build push first (in CI, the build-and-push job must have run for this commit)",
			ref, short(r.cfg.Commit), err)
	}
}

// push tags the image for Heroku's registry and pushes it there, with
// the API key as the password.
func (r *run) push(ctx context.Context) error {
	target := docker.HerokuRepository(r.cfg.HerokuRegistry, r.app.Name) + ":latest"
	if err := r.d.Engine.Tag(ctx, r.cfg.Image, target); err != nil {
		return fmt.Errorf("tagging the image as %s: %w", target, err)
	}
	auth := docker.HerokuAuth(r.cfg.HerokuRegistry, r.cfg.APIKey)
	if err := r.d.Engine.Push(ctx, target, auth, r.progress()); err != nil {
		var refused *docker.AuthError
		if errors.As(err, &refused) {
			return fmt.Errorf("pushing %s: %w: check HEROKU_API_KEY, which is the registry's password, "+
				"and that its account may deploy %s; nothing was released", target, err, r.app.Name)
		}
		return fmt.Errorf("pushing %s: %w; nothing was released", target, err)
	}
	r.say("pushed %s", target)
	return nil
}

func (r *run) progress() io.Writer {
	if r.d.Verbose {
		return r.out
	}
	return io.Discard
}

// release asks Heroku to release image and returns the release it made;
// made is false, and rel the newest release, when the image already was.
func (r *run) release(ctx context.Context, image string) (rel heroku.Release, made bool, err error) {
	h, app := r.d.Heroku, r.app.Name
	r.latest, r.previous, err = h.NewestAndCurrent(ctx, app)
	if err != nil {
		return heroku.Release{}, false, err
	}

	const during = "asking Heroku to release the image"
	releaseErr := h.ReleaseImage(ctx, app, "web", image)
	if ctx.Err() != nil {
		return heroku.Release{}, false, r.interrupted(ctx, nil, during)
	}
	// Whatever the answer, the newest release says what happened: a 5xx or
	// a lost connection may hide a release that was made.
	newest, err := h.Releases(ctx, app, 1)
	if ctx.Err() != nil {
		return heroku.Release{}, false, r.interrupted(ctx, nil, during)
	}
	if err != nil {
		if releaseErr != nil {
			return heroku.Release{}, false, fmt.Errorf("releasing: %w; checking whether Heroku made a release failed too (%v): "+
				"see heroku releases -a %s", releaseErr, err, app)
		}
		return heroku.Release{}, false, fmt.Errorf("releasing: listing the releases after the release: %w; see heroku releases -a %s", err, app)
	}
	made = len(newest) > 0 && (r.latest == nil || newest[0].ID != r.latest.ID)
	switch {
	case releaseErr != nil && !made:
		return heroku.Release{}, false, fmt.Errorf("releasing: %w; nothing was released", releaseErr)
	case releaseErr != nil:
		r.say("the release request failed (%v), but Heroku made %s: following it", releaseErr, newest[0].Name())
	case !made && r.latest == nil:
		return heroku.Release{}, false, errors.New("releasing: Heroku accepted the image but lists no release: see heroku releases -a " + app)
	case !made:
		same := *r.latest
		if r.previous != nil {
			same = *r.previous // Heroku makes no release for the image it runs
		}
		r.say("image already released as %s, which is %s: nothing to release", same.Name(), currentOr(same))
		return same, false, nil
	}
	return newest[0], true, nil
}

func currentOr(rel heroku.Release) string {
	if rel.Current {
		return "current"
	}
	return rel.Status
}

// recordInSentry tells Sentry about the release; a failure is a warning.
func (r *run) recordInSentry(ctx context.Context, rel heroku.Release, version string) {
	if r.d.Sentry == nil {
		return
	}
	if version == "" {
		version = r.cfg.Version
	}
	name := buildinfo.ReleaseName(version)
	err := r.d.Sentry.Record(ctx, sentryrelease.Deploy{
		Version:     name,
		Commit:      r.cfg.Commit,
		Environment: r.cfg.SentryEnvironment,
		Name:        r.app.Name + " " + rel.Name(),
		URL:         r.app.WebURL,
		Started:     r.start,
		Finished:    time.Now(),
	})
	if err != nil {
		r.say("warning: the deploy succeeded, but Sentry release %s was not recorded: %v", name, err)
		return
	}
	r.say("Sentry release %s recorded, deployed to %s", name, r.cfg.SentryEnvironment)
}

// short is how messages show a commit: its first 12 characters, as git
// describe and gitinfo show it.
func short(commit string) string { return gitinfo.Info{Commit: commit}.Short() }
