package siteimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// FingerprintLabel is the image label that holds the fingerprint of what
// the image was built from.
const FingerprintLabel = "com.github.oc-lettings.fingerprint"

// fingerprintVersion changes whenever what the fingerprint covers changes,
// so that images fingerprinted the old way are rebuilt.
const fingerprintVersion = "oc-lettings image fingerprint v1"

// scratchNeeds are the packages the site's binary must link in to work in a
// scratch image, which has no CA roots and no time zone database.
var scratchNeeds = []string{"golang.org/x/crypto/x509roots/fallback", "time/tzdata"}

// pkg is the part of go list's output the fingerprint reads.
type pkg struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	SFiles     []string
	EmbedFiles []string
	Module     *struct {
		Path    string
		Version string
		Main    bool
		Replace *struct {
			Path    string
			Version string
		}
	}
}

// Fingerprint returns a digest of everything the image is made from: recipe
// (how it is built: the go build command with its stamped version, the
// build arguments, the platform), the Dockerfile, go.mod and go.sum, and the
// contents of every Go file and embedded file of the site's packages, as go
// list selects them for linux/amd64. Dependencies from the module cache
// count by version. Paths are relative to dir, so two checkouts of the same
// commit agree.
//
// It also checks that the binary links in the CA roots and time zones a
// scratch image lacks.
func Fingerprint(ctx context.Context, r *runner.Runner, dir, recipe string, dockerfile []byte) (string, error) {
	// Output returns go list's data as it is, unmasked: masking a secret
	// in it could change a path that happens to contain one.
	out, err := r.Output(ctx, runner.Cmd{
		Name: "go",
		Args: []string{"list", "-deps", "-json=ImportPath,Dir,Standard,GoFiles,SFiles,EmbedFiles,Module", gobuild.MainPackage},
		Dir:  dir,
		Env:  []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"},
	})
	if err != nil {
		return "", fmt.Errorf("listing the site's packages: %w", err)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}

	h := sha256.New()
	record(h, "version", fingerprintVersion)
	record(h, "recipe", recipe)
	record(h, "Dockerfile", string(dockerfile))
	for _, name := range []string{"go.mod", "go.sum"} {
		if err := recordFile(h, root, filepath.Join(root, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}

	var linked []string
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("reading go list's output: %w", err)
		}
		linked = append(linked, p.ImportPath)
		switch {
		case p.Standard:
			// Part of the toolchain, which the recipe names.
		case p.Module != nil && !p.Module.Main && p.Module.Version != "":
			record(h, "module", p.ImportPath+" "+p.Module.Path+"@"+p.Module.Version)
		default: // this module's packages, and local replacements
			record(h, "package", p.ImportPath)
			for _, f := range slices.Concat(p.GoFiles, p.SFiles, p.EmbedFiles) {
				if err := recordFile(h, root, filepath.Join(p.Dir, f)); err != nil {
					return "", err
				}
			}
		}
	}
	for _, need := range scratchNeeds {
		if !slices.Contains(linked, need) {
			return "", fmt.Errorf("the site's binary does not import %s, which a scratch image needs "+
				"(it has no CA roots or time zones): import it for its side effects in %s", need, gobuild.MainPackage)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// record adds a named value to h, length-prefixed so that no two different
// sequences of values hash alike.
func record(h hash.Hash, kind, value string) {
	fmt.Fprintf(h, "%s %d\n%s\n", kind, len(value), value)
}

func recordFile(h hash.Hash, root, name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("fingerprinting the sources: %w", err)
	}
	rel, err := filepath.Rel(root, name)
	if err != nil {
		rel = name
	}
	sum := sha256.Sum256(data)
	record(h, "file", filepath.ToSlash(rel)+" "+hex.EncodeToString(sum[:]))
	return nil
}
