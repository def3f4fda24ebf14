// Package buildinfo holds the version and commit stamped into the binary at
// build time, the Sentry release name derived from them, and the shape of the
// /healthz answer that reports them. The pipeline imports it too.
//
// The pipeline sets both variables with the linker:
//
//	go build -ldflags "-X github.com/oc-lettings/oc-lettings/app/buildinfo.Version=v1.2.0 \
//	                   -X github.com/oc-lettings/oc-lettings/app/buildinfo.Commit=<git sha>"
package buildinfo

// Path is this package's import path, the prefix of the linker's -X flags.
const Path = "github.com/oc-lettings/oc-lettings/app/buildinfo"

// Stamped at build time; the defaults mark a binary built without the pipeline.
var (
	// Version is the human-readable version, such as the output of
	// "git describe --tags --always --dirty".
	Version = "dev"
	// Commit is the full git commit hash the binary was built from.
	Commit = "unknown"
)

// Release is the Sentry release name of this binary.
func Release() string { return ReleaseName(Version) }

// ReleaseName is the Sentry release name of a binary stamped with version.
// The deploy step uses it to create the matching release in Sentry.
func ReleaseName(version string) string { return "oc-lettings@" + version }

// Health is what the site's /healthz answers, as JSON:
//
//	{"status":"ok","version":"v1.2.0","commit":"<git sha>"}
//
// The pipeline decodes it to check which build a deployment runs.
type Health struct {
	Status  string `json:"status"`  // "ok" whenever the site answers
	Version string `json:"version"` // the running binary's Version
	Commit  string `json:"commit"`  // the running binary's Commit
}
