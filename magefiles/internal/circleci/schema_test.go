package circleci

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// validateText returns the problems config has against schema s, as Lint
// would report them (relative to the config's directory), without those of
// the rules.
func validateText(t *testing.T, s *jsonschema.Schema, config string) string {
	t.Helper()
	err := load(t, config).check(context.Background(), s, func(context.Context) ([]string, error) { return projectTargets, nil })
	if err == nil {
		return ""
	}
	var lines []string
	for _, p := range strings.Split(err.Error(), "\n") {
		if _, p, _ = strings.Cut(p, "/.circleci/"); strings.Contains(p, ": schema: ") {
			lines = append(lines, p)
		}
	}
	return strings.Join(lines, "\n")
}

// TestValidateReportsTheCloserAlternative uses a small schema of the same
// shape as CircleCI's (a step is a string or an object) to check what a
// failed oneOf reports, and on which line.
func TestValidateReportsTheCloserAlternative(t *testing.T) {
	s, err := loadSchema(context.Background(), "", "testdata/steps.schema.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	config := "steps:\n  - checkout\n  - run:\n      name: x\n" // run without command
	want := "config.yml:3: schema: at /steps/1/run: missing property 'command'"
	if got := validateText(t, s, config); got != want {
		t.Errorf("problems =\n%s\nwant exactly\n%s", got, want)
	}
}

// officialSchema returns CircleCI's schema: the copy CIRCLECI_SCHEMA names
// (relative to the repository root, as for mage lint) or, unset, the pinned
// one if mage lint left it in the user's cache; nothing is downloaded. With
// neither, the test is skipped: the schema comes from the network, which a
// machine may not have (.ci/run points CIRCLECI_SCHEMA at a local copy when
// there is one). A CIRCLECI_SCHEMA that names no file fails the test.
func officialSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := os.Getenv("CIRCLECI_SCHEMA")
	explicit := path != ""
	if cache, err := os.UserCacheDir(); !explicit && err == nil {
		path = cacheFile(cache)
		if data, err := os.ReadFile(path); err == nil {
			if err := checkSum(data, path, "delete it"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join("../../..", path)
	}
	if _, err := os.Stat(path); err != nil {
		if explicit {
			t.Fatalf("CIRCLECI_SCHEMA names %s, which cannot be read: %v", path, err)
		}
		t.Skipf("no CircleCI schema at %s: set CIRCLECI_SCHEMA to a copy of %s, or run mage lint once with a network, to check the config against it", path, publishedURL)
	}
	s, err := loadSchema(context.Background(), "", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheProjectConfigMatchesTheOfficialSchema(t *testing.T) {
	s := officialSchema(t)
	data, err := os.ReadFile(filepath.Join("../../..", Path))
	if err != nil {
		t.Fatal(err)
	}
	for name, config := range map[string]string{Path: string(data), "testdata/pipeline.yml": readFixture(t)} {
		if got := validateText(t, s, config); got != "" {
			t.Errorf("%s breaks the schema:\n%s", name, got)
		}
	}
}

func TestTheOfficialSchemaCatchesMistakes(t *testing.T) {
	s := officialSchema(t)
	tests := []struct {
		name, old, new string
		want           string // the problem's message
		at             string // text that starts on its line
	}{
		{
			name: "a misspelled job key",
			old:  "  deploy:\n    executor: go\n    steps:", new: "  deploy:\n    executor: go\n    stepz:",
			want: "schema: at /jobs/deploy: missing property 'steps'", at: "  deploy:\n    executor: go\n    stepz",
		},
		{
			name: "a run step's when",
			old:  "          when: on_fail\n\n  build", new: "          when: sometimes\n\n  build",
			want: "schema: at /jobs/test-and-lint/steps/3/run/when: value must be one of", at: "          when: sometimes",
		},
		{
			name: "a misspelled key of store_test_results",
			old:  "          path: /tmp/test-results", new: "          pth: /tmp/test-results",
			want: "schema: at /jobs/test-and-lint/steps/2/store_test_results: missing property 'path'", at: "      - store_test_results:",
		},
		{
			name: "requires given as a string",
			old:  "requires: [test-and-lint]", new: "requires: test-and-lint",
			want: "schema: at /workflows/pipeline/jobs/1/build-and-push/requires: got string, want array", at: "requires: test-and-lint",
		},
		{
			name: "no version",
			old:  "version: 2.1\n", new: "",
			want: "schema: at /: missing property 'version'", at: "executors:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := mutate(t, readFixture(t), tt.old, tt.new)
			hasProblem(t, validateText(t, s, config), lineOf(t, config, tt.at), tt.want)
		})
	}
}

// serveSchema points pinned at a loopback server that serves body, with
// the SHA-256 of want, and the cache at a new directory. It returns how
// many requests the server received.
func serveSchema(t *testing.T, body, want string) *atomic.Int32 {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	setPinned(t, srv.URL+"/schema.json", fmt.Sprintf("%x", sha256.Sum256([]byte(want))))
	return &hits
}

// setPinned sets pinned and the cache directory for the test.
func setPinned(t *testing.T, url, sum string) {
	t.Helper()
	old, oldCache, cache := pinned, userCacheDir, t.TempDir()
	pinned.url, pinned.sha256 = url, sum
	userCacheDir = func() (string, error) { return cache, nil }
	t.Cleanup(func() { pinned, userCacheDir = old, oldCache })
}

// cachedFile returns the path of the cached schema.
func cachedFile(t *testing.T) string {
	t.Helper()
	dir, err := userCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return cacheFile(dir)
}

func readSchemaFixture(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/steps.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestThePinnedSchemaIsDownloadedOnceThenCached(t *testing.T) {
	schema := readSchemaFixture(t)
	hits := serveSchema(t, schema, schema)
	for range 2 {
		var out strings.Builder
		s, err := loadSchema(context.Background(), "", "", &out)
		if err != nil || s == nil || out.Len() > 0 {
			t.Fatalf("loadSchema = %v, %v; notice %q; want the schema, no notice", s, err, out.String())
		}
	}
	if hits.Load() != 1 {
		t.Errorf("the server was asked %d times, want once: the second run reads the cache", hits.Load())
	}
	if data, err := os.ReadFile(cachedFile(t)); err != nil || string(data) != schema {
		t.Errorf("the cache holds %q (%v), want the schema", data, err)
	}
}

func TestADownloadWithAnotherSHAIsNotUsed(t *testing.T) {
	serveSchema(t, `{"type": "object"}`, readSchemaFixture(t))
	_, err := loadSchema(context.Background(), "", "", &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "has SHA-256") || !strings.Contains(err.Error(), "not used") {
		t.Errorf("loadSchema = %v, want an error about the SHA-256", err)
	}
	if _, err := os.Stat(cachedFile(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a download with the wrong SHA-256 was cached (%v)", err)
	}
}

func TestADamagedCacheIsAnError(t *testing.T) {
	schema := readSchemaFixture(t)
	hits := serveSchema(t, schema, schema)
	if err := os.MkdirAll(filepath.Dir(cachedFile(t)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cachedFile(t), []byte(schema+" "), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadSchema(context.Background(), "", "", &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "the cached CircleCI schema "+cachedFile(t)) || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("loadSchema = %v, want an error naming the damaged cache and saying to delete it", err)
	}
	if hits.Load() != 0 {
		t.Error("a damaged cache was silently downloaded again")
	}
}

func TestWithoutANetworkTheSchemaIsSkippedWithOneNotice(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens at its address any more
	setPinned(t, srv.URL+"/schema.json", pinned.sha256)
	var out strings.Builder
	s, err := loadSchema(context.Background(), "", "", &out)
	if s != nil || err != nil {
		t.Errorf("loadSchema = %v, %v; want no schema and no error", s, err)
	}
	notice := out.String()
	if strings.Count(notice, "\n") != 1 || !strings.Contains(notice, "CircleCI schema check skipped; set CIRCLECI_SCHEMA") {
		t.Errorf("notice = %q, want one line that says what was skipped and how to enable it", notice)
	}
}

func TestCancellingStopsTheDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers nothing until the client gives up
	}))
	t.Cleanup(srv.Close)
	setPinned(t, srv.URL+"/schema.json", pinned.sha256)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var out strings.Builder
	_, err := loadSchema(ctx, "", "", &out)
	if !errors.Is(err, context.DeadlineExceeded) || out.Len() > 0 {
		t.Errorf("loadSchema = %v, notice %q; want the context's error and no notice", err, out.String())
	}
	if d := time.Since(start); d > downloadTimeout/2 {
		t.Errorf("loadSchema returned after %v, not when its context ended", d)
	}
}

func TestAnExplicitSchema(t *testing.T) {
	setPinned(t, "http://127.0.0.1:1/never-asked", pinned.sha256)
	// A copy other than the pinned one is used as it is: no SHA-256 check.
	if s, err := loadSchema(context.Background(), "testdata", "steps.schema.json", nil); s == nil || err != nil {
		t.Errorf("loadSchema of a local copy, relative to dir = %v, %v", s, err)
	}
	_, err := loadSchema(context.Background(), t.TempDir(), "absent.json", nil)
	if err == nil || !strings.Contains(err.Error(), "CIRCLECI_SCHEMA") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loadSchema of a missing copy = %v, want an error that names CIRCLECI_SCHEMA", err)
	}
}

// TestCompilingLoadsNothingElse refers from a schema to one on a server
// and to one beside it: neither is loaded, and compiling fails.
func TestCompilingLoadsNothingElse(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"type": "object"}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for name, ref := range map[string]string{"remote.json": srv.URL + "/schema.json", "local.json": "other.json"} {
		for file, text := range map[string]string{name: `{"$ref": "` + ref + `"}`, "other.json": `{"type": "object"}`} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := loadSchema(context.Background(), dir, name, nil); err == nil || !strings.Contains(err.Error(), ref) {
			t.Errorf("compiling a schema that refers to %s: err = %v, want a refusal to load it", ref, err)
		}
	}
	if hits.Load() > 0 {
		t.Errorf("compiling asked the server %d times, want never", hits.Load())
	}
}
