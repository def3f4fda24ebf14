package circleci

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL names the schema inside the compiler; nothing is ever fetched
// from it.
const schemaURL = "file:///circleci/schema.json"

// A Schema is CircleCI's JSON schema for config.yml, compiled.
type Schema struct {
	schema *jsonschema.Schema
}

// LoadSchema reads and compiles the schema at path. It works offline: a
// $ref to anything outside the file is an error, never a download. A
// missing file gives an error that errors.Is(err, fs.ErrNotExist) detects.
func LoadSchema(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CircleCI schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the CircleCI schema %s is not JSON: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(offline{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("the CircleCI schema %s: %w", path, err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compiling the CircleCI schema %s: %w", path, err)
	}
	return &Schema{schema: s}, nil
}

// offline refuses to load anything: the schema must be self-contained.
type offline struct{}

func (offline) Load(url string) (any, error) {
	return nil, fmt.Errorf("the schema refers to %s; the check runs offline and loads nothing but the schema file", url)
}

// Validate returns the places where c breaks the schema, in line order.
func (s *Schema) Validate(c *Config) []Problem {
	err := s.schema.Validate(c.data)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Line: 1, Message: "schema: " + err.Error()}}
	}
	p := message.NewPrinter(language.English)
	seen := map[string]bool{}
	var problems []Problem
	for _, leaf := range leaves(ve) {
		pointer := "/" + strings.Join(escapePointer(leaf.InstanceLocation), "/")
		msg := fmt.Sprintf("schema: at %s: %s", pointer, leaf.ErrorKind.LocalizedString(p))
		if seen[msg] {
			continue
		}
		seen[msg] = true
		problems = append(problems, Problem{Line: lineOf(c.root, leaf.InstanceLocation), Message: msg})
	}
	return sortProblems(problems)
}

// leaves returns the errors at the bottom of e's tree: the specific ones.
// Where a oneOf or anyOf failed, the alternatives that failed only because
// the value has another type are dropped when a closer alternative is left:
// "steps is missing" says more than "got object, want string".
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	causes := e.Causes
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		var closer []*jsonschema.ValidationError
		for _, c := range causes {
			if !wrongType(c) {
				closer = append(closer, c)
			}
		}
		if len(closer) > 0 {
			causes = closer
		}
	}
	var out []*jsonschema.ValidationError
	for _, c := range causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// wrongType reports whether e says only that the value has the wrong type
// (possibly through a $ref).
func wrongType(e *jsonschema.ValidationError) bool {
	for {
		switch e.ErrorKind.(type) {
		case *kind.Type:
			return len(e.Causes) == 0
		case *kind.Reference, *kind.Group:
			if len(e.Causes) != 1 {
				return false
			}
			e = e.Causes[0]
		default:
			return false
		}
	}
}

// escapePointer escapes JSON pointer segments (RFC 6901).
func escapePointer(segs []string) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
	}
	return out
}
