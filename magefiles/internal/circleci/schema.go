package circleci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// pinned is the schema Lint uses unless CIRCLECI_SCHEMA names another: the
// one CircleCI publishes with release v0.37.0 of its YAML language server,
// and the SHA-256 of its bytes. Tests point url at a loopback server.
var pinned = struct{ url, sha256 string }{
	url:    "https://raw.githubusercontent.com/CircleCI-Public/circleci-yaml-language-server/v0.37.0/schema.json",
	sha256: "943887ba97ed0047f4170e83d3e5bf045ae12d824f6da56ca50c2224a7fbb458",
}

// userCacheDir is where the pinned schema is cached, under oc-lettings/.
var userCacheDir = os.UserCacheDir

// downloadTimeout bounds the download of the pinned schema.
const downloadTimeout = 5 * time.Second

// errUnreachable marks a download that failed for want of a network, or of
// a server that answers: the schema check is then skipped, with a notice.
var errUnreachable = errors.New("cannot download the CircleCI schema")

// loadSchema returns the compiled schema to check the config against: the
// file at path when given (relative to dir), used as it is, so that it may
// be newer than the pinned one; else the pinned schema, from the cache or
// downloaded into it. When the download fails, it writes one notice to out
// and returns nil: the rules are checked all the same.
func loadSchema(ctx context.Context, dir, path string, out io.Writer) (*jsonschema.Schema, error) {
	if path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path) //nolint:gosec // G703: the user names this file, to be read
		if err != nil {
			return nil, fmt.Errorf("reading the CircleCI schema CIRCLECI_SCHEMA names: %w; correct it, or unset it to use the pinned schema", err)
		}
		return compileSchema(path, data)
	}
	data, err := pinnedSchema(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case errors.Is(err, errUnreachable):
		fmt.Fprintf(out, "%v: CircleCI schema check skipped; set CIRCLECI_SCHEMA to a local copy of %s to check against it offline\n", err, pinned.url)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return compileSchema(pinned.url, data)
}

// pinnedSchema returns the pinned schema from the user's cache, or
// downloads it there. It checks its SHA-256 either way.
func pinnedSchema(ctx context.Context) ([]byte, error) {
	cache, err := userCacheDir()
	if err != nil {
		return nil, fmt.Errorf("finding where to cache the CircleCI schema: %w; set CIRCLECI_SCHEMA to a local copy instead", err)
	}
	file := cacheFile(cache)
	data, err := os.ReadFile(file)
	switch {
	case err == nil:
		return data, checkSum(data, "the cached CircleCI schema "+file, "delete it, and the next run downloads it again")
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading the cached CircleCI schema: %w", err)
	}
	if data, err = download(ctx, pinned.url); err != nil {
		return nil, err
	}
	if err := checkSum(data, "the CircleCI schema downloaded from "+pinned.url, "is a proxy changing it? Else set CIRCLECI_SCHEMA to a local copy"); err != nil {
		return nil, err
	}
	// Written beside, then renamed: a concurrent run never reads half of it.
	if err = os.MkdirAll(filepath.Dir(file), 0o755); err == nil {
		if err = os.WriteFile(file+".download", data, 0o644); err == nil {
			err = os.Rename(file+".download", file)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("caching the CircleCI schema: %w", err)
	}
	return data, nil
}

// cacheFile returns where the pinned schema is kept in the user's cache
// directory cache.
func cacheFile(cache string) string {
	return filepath.Join(cache, "oc-lettings", "circleci-schema-"+pinned.sha256[:16]+".json")
}

// checkSum checks that data, which is what, has the pinned SHA-256; fix
// says what to do when it has not.
func checkSum(data []byte, what, fix string) error {
	if sum := fmt.Sprintf("%x", sha256.Sum256(data)); sum != pinned.sha256 {
		return fmt.Errorf("%s has SHA-256 %s, not the pinned %s, so it is not used: %s", what, sum, pinned.sha256, fix)
	}
	return nil
}

// download returns the body of a GET of url, within downloadTimeout. Its
// errors are errUnreachable.
func download(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	var data []byte
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		data, err = io.ReadAll(io.LimitReader(resp.Body, 10<<20))
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
	return data, nil
}

// compileSchema compiles the schema in data; name names it in messages. It
// works offline: a $ref to anything outside the schema is an error, never
// a download.
func compileSchema(name string, data []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the CircleCI schema %s is not JSON: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(offline{})
	const id = "file:///circleci/schema.json" // nothing is ever read from it
	if err := c.AddResource(id, doc); err != nil {
		return nil, fmt.Errorf("the CircleCI schema %s: %w", name, err)
	}
	s, err := c.Compile(id)
	if err != nil {
		return nil, fmt.Errorf("compiling the CircleCI schema %s: %w", name, err)
	}
	return s, nil
}

// offline refuses to load anything: the schema must be self-contained.
type offline struct{}

func (offline) Load(url string) (any, error) {
	return nil, fmt.Errorf("the schema refers to %s; the check runs offline and loads nothing but the schema", url)
}

// validate adds a problem for each place where the config breaks schema s.
func (k *checker) validate(s *jsonschema.Schema) {
	var ve *jsonschema.ValidationError
	if err := s.Validate(any(k.doc)); !errors.As(err, &ve) {
		if err != nil {
			k.add(nil, "schema: %v", err)
		}
		return
	}
	printer := message.NewPrinter(language.English)
	seen := map[string]bool{}
	for _, leaf := range leaves(ve) {
		msg := fmt.Sprintf("schema: at /%s: %s", strings.Join(leaf.InstanceLocation, "/"), leaf.ErrorKind.LocalizedString(printer))
		if !seen[msg] {
			seen[msg] = true
			k.add(leaf.InstanceLocation, "%s", msg)
		}
	}
}

// leaves returns the errors at the bottom of e's tree: the specific ones.
// Where a oneOf or anyOf failed, the alternatives that failed only because
// the value has another type are dropped when a closer alternative is left:
// "missing property 'steps'" says more than "got object, want string".
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	causes := e.Causes
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		if closer := slices.DeleteFunc(slices.Clone(causes), wrongType); len(closer) > 0 {
			causes = closer
		}
	}
	var out []*jsonschema.ValidationError
	for _, c := range causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// wrongType reports whether e says only that the value has another type,
// possibly through a $ref.
func wrongType(e *jsonschema.ValidationError) bool {
	switch e.ErrorKind.(type) {
	case *kind.Type:
		return len(e.Causes) == 0
	case *kind.Reference, *kind.Group:
		return len(e.Causes) == 1 && wrongType(e.Causes[0])
	}
	return false
}
