package siteimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/gobuild"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// FingerprintLabel is the image label holding the fingerprint of what it was built from.
const FingerprintLabel = "com.github.oc-lettings.fingerprint"

// fingerprintVersion changes whenever what the fingerprint covers changes,
// so that images fingerprinted the old way are rebuilt.
const fingerprintVersion = "oc-lettings image fingerprint v2"

// scratchNeeds are the packages the site's binary must link in to work in a
// scratch image, which has no CA roots and no time zone database.
var scratchNeeds = []string{"golang.org/x/crypto/x509roots/fallback", "time/tzdata"}

// listFormat has go list print, for each package the binary links, a line
// of tab-separated fields: "std <path>" for the standard library (the
// toolchain, which the recipe names, covers it), "module <path>
// <module>@<version>" for a dependency, and "files <path> <dir> <file>..."
// for this module's own packages.
const listFormat = "{{if .Standard}}std\t{{.ImportPath}}" +
	"{{else if and .Module (not .Module.Main) .Module.Version}}module\t{{.ImportPath}}\t{{.Module.Path}}@{{.Module.Version}}" +
	"{{else}}files\t{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \"\\t\"}}\t{{join .SFiles \"\\t\"}}\t{{join .EmbedFiles \"\\t\"}}{{end}}"

// Fingerprint returns a digest of everything the image is made from: recipe
// (the go build command with its stamped version, the build arguments, the
// platform), the Dockerfile, go.mod and go.sum, and the contents of every
// Go, assembly and embedded file of this module's packages the binary
// links, as go list selects them for linux/amd64. Dependencies count by
// version. Paths are relative to dir, so two checkouts of the same commit
// agree. It also checks that the binary links in the CA roots and time
// zones a scratch image lacks.
func Fingerprint(ctx context.Context, r *runner.Runner, dir, recipe string, dockerfile []byte) (string, error) {
	out, err := r.Output(ctx, runner.Cmd{
		Name: "go", Args: []string{"list", "-deps", "-f", listFormat, gobuild.MainPackage},
		Dir: dir, Env: []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"},
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
	for _, line := range strings.Split(out, "\n") {
		fields := slices.DeleteFunc(strings.Split(line, "\t"), func(f string) bool { return f == "" })
		if len(fields) < 2 {
			return "", fmt.Errorf("reading go list's output: unexpected line %q", line)
		}
		linked = append(linked, fields[1])
		switch fields[0] {
		case "module":
			record(h, "module", strings.Join(fields[1:], " "))
		case "files":
			record(h, "package", fields[1])
			for _, f := range fields[3:] {
				if err := recordFile(h, root, filepath.Join(fields[2], f)); err != nil {
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
