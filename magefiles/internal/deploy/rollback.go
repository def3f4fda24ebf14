package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/heroku"
)

// RollbackError reports a deploy that failed after Heroku made its
// release, and what was done about it.
type RollbackError struct {
	App         string
	Cause       error           // why the deploy failed
	Interrupted bool            // the deploy was interrupted (Ctrl-C, SIGTERM, mage -t)
	Release     heroku.Release  // the release the deploy made, as last seen
	Previous    *heroku.Release // the release current before; nil when there was none
	Rollback    *heroku.Release // the rollback release, as last seen; nil when none was made
	RollbackErr error           // why rolling back failed, when it did
}

// RolledBack reports whether the app was rolled back successfully, or, for
// an interrupted deploy, whether the rollback was made.
func (e *RollbackError) RolledBack() bool {
	if e.Rollback == nil || e.RollbackErr != nil {
		return false
	}
	return e.Rollback.Status == heroku.StatusSucceeded || e.Interrupted && e.Rollback.Status == heroku.StatusPending
}

func (e *RollbackError) Error() string {
	var b strings.Builder
	b.WriteString(e.Cause.Error())
	b.WriteString("\n")
	check := "heroku releases -a " + e.App
	switch {
	case e.Previous == nil:
		fmt.Fprintf(&b, "there is no earlier release to roll back to: check the app with %s, "+
			"and stop it with heroku ps:scale web=0 -a %s if it must not run %s", check, e.App, e.Release.Name())
	case e.RolledBack() && e.Rollback.Status == heroku.StatusSucceeded:
		fmt.Fprintf(&b, "rolled back: %s (rollback to %s, the release current before this deploy) succeeded; "+
			"the app runs what it ran before", e.Rollback.Name(), e.Previous.Name())
	case e.RolledBack():
		fmt.Fprintf(&b, "rolled back: %s (rollback to %s, the release current before this deploy) was made and is %s; "+
			"check it with %s", e.Rollback.Name(), e.Previous.Name(), e.Rollback.Status, check)
	case e.Rollback != nil:
		fmt.Fprintf(&b, "ROLLBACK FAILED: %s (rollback to %s) is %s; the app may be on a broken release: "+
			"check with %s, and roll back by hand with heroku rollback %s -a %s",
			e.Rollback.Name(), e.Previous.Name(), e.Rollback.Status, check, e.Previous.Name(), e.App)
	default:
		fmt.Fprintf(&b, "ROLLBACK FAILED: %v; the app may be left on %s: roll back by hand with heroku rollback %s -a %s",
			e.RollbackErr, e.Release.Name(), e.Previous.Name(), e.App)
	}
	return b.String()
}

func (e *RollbackError) Unwrap() error { return e.Cause }

// recover rolls the app back after rel failed its checks with cause,
// during the step named by during.
func (r *run) recover(ctx context.Context, rel heroku.Release, cause error, during string) error {
	if ctx.Err() != nil {
		return r.interrupted(ctx, &rel, during)
	}
	e := &RollbackError{App: r.app.Name, Cause: cause, Release: rel, Previous: r.previous}
	if r.previous == nil {
		return e
	}
	r.say("rolling back to %s, the release current before this deploy", r.previous.Name())
	rb, err := r.d.Heroku.Rollback(ctx, r.app.Name, r.previous.ID)
	if err != nil {
		if ctx.Err() != nil {
			return r.interrupted(ctx, &rel, "rolling back to "+r.previous.Name())
		}
		e.RollbackErr = err
		return e
	}
	e.Rollback = &rb
	if rb.Status == heroku.StatusPending {
		r.say("release %s (rollback to %s) pending", rb.Name(), r.previous.Name())
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.ReleaseTimeout)
	defer cancel()
	final, err := r.d.Heroku.WaitRelease(wctx, r.app.Name, rb, r.cfg.PollInterval)
	e.Rollback = &final
	if ctx.Err() != nil {
		e.Interrupted = true
		e.Cause = fmt.Errorf("%w (then the deploy was interrupted while waiting for the rollback)", cause)
		return e
	}
	if err != nil {
		e.RollbackErr = err
		e.Cause = fmt.Errorf("%w (and waiting for rollback %s failed: %w)", cause, rb.Name(), err)
	}
	r.say("release %s (rollback to %s) %s", final.Name(), r.previous.Name(), final.Status)
	return e
}

// interrupted handles a deploy stopped by its context after the release
// request was sent. rel is the release made, or nil when unknown. Mage
// allows a cancelled target 5 s, so everything here fits in the
// RollbackWindow: it finds the release, rolls back without waiting for the
// rollback to finish, and says what state the app is in.
func (r *run) interrupted(ctx context.Context, rel *heroku.Release, during string) error {
	stop := stopped{context.Cause(ctx)}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RollbackWindow)
	defer cancel()
	h, app := r.d.Heroku, r.app.Name
	r.say("%v while %s: checking the app's releases", stop, during)

	if rel == nil {
		newest, err := h.Releases(wctx, app, 1)
		if err != nil {
			return fmt.Errorf("deploy %w while %s, and whether Heroku made a release is unknown (%w): "+
				"check with heroku releases -a %s%s", stop, during, err, app, r.rollbackHint())
		}
		if len(newest) == 0 || r.latest != nil && newest[0].ID == r.latest.ID {
			return fmt.Errorf("deploy %w while %s: Heroku made no release, %s", stop, during, r.runs())
		}
		rel = &newest[0]
	} else if fresh, err := h.Release(wctx, app, rel.ID); err == nil {
		rel = &fresh
	}

	e := &RollbackError{
		App: app, Interrupted: true, Release: *rel, Previous: r.previous,
		Cause: fmt.Errorf("deploy %w while %s: %s %s, %s", stop, during, rel.Name(), state(*rel), r.runs()),
	}
	if r.previous == nil {
		return e
	}
	rb, err := h.Rollback(wctx, app, r.previous.ID)
	if err != nil {
		e.RollbackErr = err
		return e
	}
	e.Rollback = &rb
	now := rb.Status
	if now == heroku.StatusPending {
		now = "is pending"
	}
	r.say("rolled back: %s (rollback to %s) %s", rb.Name(), r.previous.Name(), now)
	return e
}

// state describes a release's status in a sentence: "was pending".
func state(rel heroku.Release) string {
	switch rel.Status {
	case heroku.StatusPending:
		return "was pending"
	case heroku.StatusSucceeded:
		return "had succeeded"
	default:
		return "had " + rel.Status
	}
}

// stopped is why a deploy's context ended, in a word: Ctrl-C and SIGTERM
// (through mage or signal.NotifyContext) interrupt it, mage -t times it
// out. errors.Is sees the context's cause through it.
type stopped struct{ cause error }

func (s stopped) Error() string {
	if errors.Is(s.cause, context.DeadlineExceeded) {
		return "timed out"
	}
	return "interrupted"
}

func (s stopped) Unwrap() error { return s.cause }

// runs says which release was current before the deploy.
func (r *run) runs() string {
	if r.previous == nil {
		return "and no release was current before"
	}
	return r.previous.Name() + " was current before"
}

func (r *run) rollbackHint() string {
	if r.previous == nil {
		return ""
	}
	return fmt.Sprintf(", and roll back with heroku rollback %s -a %s if a new release shows", r.previous.Name(), r.app.Name)
}
