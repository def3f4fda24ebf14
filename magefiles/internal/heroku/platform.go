package heroku

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/deploy"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// Platform runs mage deploy's steps on Heroku (see deploy.Platform): the
// image goes to <Registry>/<app>/web as user "_" with the API key as the
// password, is released, and is followed until its release phase ends.
type Platform struct {
	Client         *Client
	App            string // HEROKU_APP_NAME
	Registry       string // HEROKU_REGISTRY, e.g. registry.heroku.com
	APIKey         string // the registry's password
	Out            io.Writer
	Verbose        bool          // show the release phase's output live
	Stream         Stream        // how the release phase's output is read
	ReleaseTimeout time.Duration // the longest wait for a release or a rollback; default 10 minutes
	PollInterval   time.Duration // the wait between polls; default 2s

	webURL   string   // the app's, from the preflight
	latest   *Release // the newest release before the deploy; nil when none
	previous *Release // the release current before the deploy; nil when none
	release  *Release // the release the deploy made, as last seen
}

func (p *Platform) say(format string, args ...any) { fmt.Fprintf(p.Out, format+"\n", args...) }

// Preflight checks that the key is accepted and the app exists, is a Cedar app and runs containers.
func (p *Platform) Preflight(ctx context.Context) (deploy.Target, error) {
	acct, err := p.Client.Account(ctx)
	if err != nil {
		return deploy.Target{}, err
	}
	app, err := p.Client.App(ctx, p.App)
	if err != nil {
		return deploy.Target{}, err
	}
	switch {
	case app.Generation != "" && app.Generation != "cedar":
		return deploy.Target{}, fmt.Errorf("app %s is of Heroku's %s generation, which deploys from buildpacks (git push or heroku builds), "+
			"not from container images: create a Cedar app for this site with mage heroku:create and a new HEROKU_APP_NAME, "+
			"or deploy it to %s with Fir's own tools", app.Name, app.Generation, app.Name)
	case !app.IsContainer():
		return deploy.Target{}, fmt.Errorf("app %s is on the %s stack, but this site ships as a container image: "+
			"switch it with heroku stack:set container -a %s, or run mage heroku:create, which does it", app.Name, app.Stack, app.Name)
	}
	p.say("preflight ok: app %s on the container stack, key of %s accepted", app.Name, acct.Email)
	p.webURL = app.WebURL
	image := registry.Image{Ref: p.Registry + "/" + app.Name + "/web:latest", User: "_", Password: p.APIKey}
	return deploy.Target{App: app.Name, Image: image, DockerV2: true, Logs: "heroku logs -a " + app.Name, Refused: settings.HerokuRefused}, nil
}

// Release releases img's config digest, the image ID Heroku wants.
func (p *Platform) Release(ctx context.Context, img registry.Copied) (string, bool, error) {
	// The release the app runs is the newest marked current, almost always among the newest few.
	recent, err := p.Client.Releases(ctx, p.App, 10)
	if err != nil {
		return "", false, err
	}
	if len(recent) > 0 {
		p.latest = &recent[0]
	}
	if i := slices.IndexFunc(recent, func(r Release) bool { return r.Current }); i >= 0 {
		p.previous = &recent[i]
	}
	releaseErr := p.Client.ReleaseImage(ctx, p.App, "web", img.ConfigDigest)
	// Whatever the answer, the newest release says what happened: a 5xx or a lost connection may hide one.
	made, err := p.newRelease(ctx)
	switch {
	case ctx.Err() != nil:
		return "", false, ctx.Err()
	case err != nil && releaseErr != nil:
		return "", false, fmt.Errorf("releasing: %w; checking whether Heroku made a release failed too (%v): "+
			"see heroku releases -a %s", releaseErr, err, p.App)
	case err != nil:
		return "", false, fmt.Errorf("releasing: listing the releases after the release: %w; see heroku releases -a %s", err, p.App)
	case releaseErr != nil && made == nil:
		return "", false, fmt.Errorf("releasing: %w; nothing was released", releaseErr)
	case releaseErr != nil:
		p.say("the release request failed (%v), but Heroku made %s: following it", releaseErr, made.Name())
	case made == nil && p.latest == nil:
		return "", false, errors.New("releasing: Heroku accepted the image but lists no release: see heroku releases -a " + p.App)
	case made == nil:
		same := cmp.Or(p.previous, p.latest) // Heroku makes no release for the image it runs
		p.say("image already released as %s: nothing to release", same.Name())
		return same.Name(), false, nil
	}
	p.release = made
	return made.Name(), true, nil
}

// newRelease returns the newest release if it is newer than the newest before the deploy, else nil.
func (p *Platform) newRelease(ctx context.Context) (*Release, error) {
	newest, err := p.Client.Releases(ctx, p.App, 1)
	if err != nil || len(newest) == 0 || p.latest != nil && newest[0].ID == p.latest.ID {
		return nil, err
	}
	return &newest[0], nil
}

func (p *Platform) releaseTimeout() time.Duration { return cmp.Or(p.ReleaseTimeout, 10*time.Minute) }

// wait polls rel until it is no longer pending, and returns it as last seen.
func (p *Platform) wait(ctx context.Context, rel Release) (Release, error) {
	ctx, cancel := context.WithTimeout(ctx, p.releaseTimeout())
	defer cancel()
	for rel.Status == StatusPending || rel.Status == "" {
		if err := sleep(ctx, cmp.Or(p.PollInterval, 2*time.Second)); err != nil {
			return rel, err
		}
		next, err := p.Client.Release(ctx, p.App, rel.ID)
		if err != nil {
			return rel, cmp.Or(context.Cause(ctx), err) // the context's end, when it ended
		}
		rel = next
	}
	return rel, nil
}

// Follow waits until the release is no longer pending, showing its release
// phase's output live when verbose, and fails unless it succeeded.
func (p *Platform) Follow(ctx context.Context) error {
	rel := p.release
	if rel.Status == StatusPending {
		p.say("release %s pending", rel.Name())
	}
	output := &runner.Tail{}
	var live io.Writer = output
	if p.Verbose {
		live = io.MultiWriter(output, p.Out)
	}
	// The output is read in the background, with a grace for its end once the release is over.
	streamCtx, stopStream := context.WithCancel(ctx)
	streamDone := make(chan error, 1)
	if rel.OutputStreamURL != "" {
		go func() { streamDone <- p.Stream.Copy(streamCtx, rel.OutputStreamURL, live) }()
	}
	final, err := p.wait(ctx, *rel)
	var streamErr error
	if err == nil && rel.OutputStreamURL != "" {
		select {
		case streamErr = <-streamDone:
		case <-time.After(3 * time.Second):
		}
	}
	stopStream()
	*rel = final
	end := ""
	if lines := output.Lines(20); lines != "" {
		end = "; the end of its output:\n    " + strings.ReplaceAll(lines, "\n", "\n    ")
	} else if streamErr != nil {
		end = fmt.Sprintf(" (its output could not be read: %v)", streamErr)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("release %s is still pending after %s%s", rel.Name(), p.releaseTimeout(), end)
	case err != nil:
		return fmt.Errorf("following release %s: %w", rel.Name(), err)
	case rel.Status != StatusSucceeded:
		p.say("release %s %s", rel.Name(), rel.Status)
		return fmt.Errorf("release %s %s: its release phase did not succeed%s", rel.Name(), rel.Status, end)
	}
	p.say("release %s succeeded", rel.Name())
	return nil
}

// URL is the app's web URL.
func (p *Platform) URL(context.Context) (string, error) { return p.webURL, nil }

// Rollback makes a new release that runs what ran before the deploy, as heroku rollback does.
func (p *Platform) Rollback(ctx context.Context, wait bool) (string, error) {
	if p.release == nil {
		made, err := p.newRelease(ctx)
		if err != nil {
			return "", fmt.Errorf("whether Heroku made a release is unknown (%w): check with heroku releases -a %s%s", err, p.App, p.byHand())
		}
		switch {
		case made == nil && p.previous == nil:
			return "Heroku made no release: no release was current before", nil
		case made == nil:
			return "Heroku made no release: " + p.previous.Name() + " was current before, and still is", nil
		}
		p.release = made
	} else if fresh, err := p.Client.Release(ctx, p.App, p.release.ID); err == nil {
		p.release = &fresh
	}
	if p.previous == nil {
		return "", fmt.Errorf("%s is %s and there is no earlier release to roll back to: check the app with heroku releases -a %s, "+
			"and stop it with heroku ps:scale web=0 -a %s if it must not run %s", p.release.Name(), p.release.Status, p.App, p.App, p.release.Name())
	}
	rb, err := p.Client.Rollback(ctx, p.App, p.previous.ID)
	if err != nil {
		return "", fmt.Errorf("%w; the app may be left on %s%s", err, p.release.Name(), p.byHand())
	}
	what := fmt.Sprintf("%s (rollback to %s, the release current before this deploy)", rb.Name(), p.previous.Name())
	if !wait {
		return fmt.Sprintf("rolled back: %s is %s; check it with heroku releases -a %s", what, rb.Status, p.App), nil
	}
	p.say("rolling back: %s %s", what, rb.Status)
	rb, err = p.wait(ctx, rb)
	switch {
	case err != nil:
		return "", fmt.Errorf("waiting for %s: %w; check with heroku releases -a %s%s", what, err, p.App, p.byHand())
	case rb.Status != StatusSucceeded:
		return "", fmt.Errorf("%s %s; the app may be on a broken release: check with heroku releases -a %s%s", what, rb.Status, p.App, p.byHand())
	}
	return fmt.Sprintf("rolled back: %s succeeded; the app runs what it ran before", what), nil
}

// byHand is how to roll back by hand, when there is something to go back to.
func (p *Platform) byHand() string {
	if p.previous == nil {
		return ""
	}
	return fmt.Sprintf(", and roll back by hand with heroku rollback %s -a %s", p.previous.Name(), p.App)
}

// Stream reads a release phase's output as it is written, from its signed
// OutputStreamURL, where the API key never goes. A 404, usual for a few
// seconds after the release is made, is retried; a stream that breaks off
// is not resumed: Follow learns from the API how the release ended.
type Stream struct {
	RetryEvery time.Duration // wait between attempts; default 1s
	WaitFor    time.Duration // how long a 404 is retried; default 30s
}

// Copy copies the stream at url to w until it ends or ctx ends.
func (s Stream) Copy(ctx context.Context, url string, w io.Writer) error {
	deadline := time.Now().Add(cmp.Or(max(s.WaitFor, 0), 30*time.Second))
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("release output stream: %w", err)
		}
		req.Header.Set("Accept", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("release output stream: %w", err)
		}
		if resp.StatusCode == http.StatusOK {
			_, err = io.Copy(w, resp.Body)
		}
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && err != nil:
			return fmt.Errorf("release output stream: %w", err)
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode != http.StatusNotFound || time.Now().After(deadline):
			return fmt.Errorf("release output stream: answered %s", resp.Status)
		}
		if err := sleep(ctx, cmp.Or(max(s.RetryEvery, 0), time.Second)); err != nil {
			return err
		}
	}
}
