package circleci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// SchemaPath returns where the schema is for the repository at dir: the
// CIRCLECI_SCHEMA variable of env, relative to dir unless absolute, or the
// default next to the repository. explicit reports whether env set it.
func SchemaPath(dir string, env settings.Env) (path string, explicit bool) {
	path = settings.CircleCISchema.Get(env)
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return path, settings.CircleCISchema.IsSet(env)
}

// Lint checks the config of the repository at dir: against the schema when
// it is found, then against the project's rules, asking targets which mage
// targets exist (Mage{Runner: r, Dir: dir} asks mage itself). It returns an
// *Error listing every problem.
//
// When the schema is not at its default place, Lint writes one notice to
// out and checks the rest; when CIRCLECI_SCHEMA names a file that does not
// exist, that is an error.
func Lint(ctx context.Context, dir string, env settings.Env, targets Targets, out io.Writer) error {
	file := filepath.Join(dir, Path)
	c, err := Load(file)
	if err != nil {
		return err
	}
	c.File = Path

	var problems []Problem
	schemaPath, explicit := SchemaPath(dir, env)
	schema, err := LoadSchema(schemaPath)
	switch {
	case err == nil:
		problems = append(problems, schema.Validate(c)...)
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		fmt.Fprintf(out, "CircleCI schema not found at %s: schema check skipped; set %s to its path\n",
			schemaPath, settings.CircleCISchema.Name)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s names %s, which does not exist: correct the path, or unset it to use %s",
			settings.CircleCISchema.Name, schemaPath, settings.CircleCISchema.Default)
	default:
		return err
	}

	rules, err := ProjectRules(dir)
	if err != nil {
		return err
	}
	structural, err := Check(ctx, c, rules, targets)
	if err != nil {
		return err
	}
	problems = append(problems, structural...)
	if len(problems) == 0 {
		return nil
	}
	return &Error{File: c.File, Problems: sortProblems(problems)}
}
