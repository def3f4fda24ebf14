// Package gitinfo reads what the pipeline needs to know about the work tree:
// the commit, whether it has uncommitted changes, a version string and the
// source repository's URL.
package gitinfo

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Info describes the checked-out commit.
type Info struct {
	Commit  string    // full commit hash
	Dirty   bool      // the work tree has uncommitted changes that can reach the image (reachesImage)
	Version string    // git describe --tags --always (v1.2.0-3-gabc1234 or abc1234), with -dirty when Dirty
	Source  string    // https URL of the origin remote; empty when there is none
	Time    time.Time // committer date: the same everywhere, for reproducible builds (SOURCE_DATE_EPOCH)
}

// Short returns the first 12 characters of the commit hash.
func (i Info) Short() string { return i.Commit[:min(12, len(i.Commit))] }

// reachesImage matches the lines of git status --porcelain that make a
// work tree Dirty, the changes that can reach the site's image: tracked
// files changed, and new files under app/ or vendor/, or go.mod, go.sum,
// go.work or Dockerfile. Others, such as a screenshot, do not count.
var reachesImage = regexp.MustCompile(`(?m)^([^?]|\?\? "?(app/|vendor/|(go\.(mod|sum|work|work\.sum)|Dockerfile)"?$))`)

// Read returns the Info of the work tree at dir ("" for the current one).
func Read(ctx context.Context, r *runner.Runner, dir string) (Info, error) {
	git := func(args ...string) (string, error) {
		return r.Output(ctx, runner.Cmd{Name: "git", Args: args, Dir: dir})
	}
	head, err := git("show", "-s", "--format=%H %cI", "HEAD")
	if err != nil {
		return Info{}, fmt.Errorf("reading the git commit "+
			"(the pipeline needs a git checkout with at least one commit): %w", err)
	}
	commit, date, _ := strings.Cut(head, " ")
	when, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return Info{}, fmt.Errorf("reading the git commit date %q: %w", date, err)
	}
	// git describe --dirty would see tracked changes only.
	status, err := git("status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return Info{}, fmt.Errorf("reading the git status: %w", err)
	}
	dirty := reachesImage.MatchString(status)
	version, err := git("describe", "--tags", "--always")
	if err != nil {
		return Info{}, fmt.Errorf("describing the git commit: %w", err)
	}
	if dirty {
		version += "-dirty"
	}
	// No origin is fine; git config, unlike git remote, says nothing then.
	remote, _ := git("config", "--get", "remote.origin.url")
	return Info{Commit: commit, Dirty: dirty, Version: version, Source: HTTPSURL(remote), Time: when.UTC()}, nil
}

// HTTPSURL turns a git remote URL (https, ssh or scp-like) into the https URL
// of the repository's web page, without credentials or a .git suffix; a
// local path has none: it returns "".
func HTTPSURL(remote string) string {
	remote = strings.TrimSpace(remote)
	if rest, ok := strings.CutPrefix(remote, "git@"); ok { // git@github.com:owner/repo.git
		remote = "ssh://" + strings.Replace(rest, ":", "/", 1)
	}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" || (u.Scheme != "ssh" && u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	if u.Scheme == "ssh" {
		u.Scheme = "https"
	}
	u.User = nil
	return strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), ".git")
}
